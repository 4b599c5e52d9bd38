// namespace/pod/container → an ExecFs: the pod is read from the API (the named container, else the
// default one, as pod-container.ts decides; it must be running), and its commands run through the
// API server's pods/exec with the kubeconfig's credentials. One ExecFs per running container
// (keyed by its container ID), so what it learnt of the image (missing tools) and its upload
// claims are shared by every call; a restarted container gets a fresh one.
import type { KubeConfig } from "@kubernetes/client-node";
import type { ClientOptions } from "ws";
import { invalidArgument, unavailable } from "../errors.js";
import type { ContainerFs } from "../fs/container-fs.js";
import { apiServerExecUrl, kubeletExecUrl, type ExecDialer } from "../fs/exec/exec-channel.js";
import { ExecFs } from "../fs/exec/exec-fs.js";
import type { PodSource } from "./kube-pods.js";
import { podContainer } from "./pod-container.js";
import type { ContainerName, Resolver } from "./resolver.js";

const CACHE_MAX = 256;

/** An ExecDialer for one container through the API server of the kubeconfig's current cluster. */
export function apiServerDialer(kc: KubeConfig, namespace: string, pod: string, container: string): ExecDialer {
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error("no Kubernetes cluster configured");
  return {
    description: `pod ${namespace}/${pod} container ${container}`,
    url: (argv, stdin) => apiServerExecUrl(server, namespace, pod, container, argv, stdin),
    options: async () => {
      const o: ClientOptions = {};
      await kc.applyToHTTPSOptions(o);
      return o;
    },
  };
}

/** How to reach kubelets directly (seed 003): their port, and the CA their serving certificates chain to. */
export interface KubeletAccess {
  port: number;
  /** PEM; unset: the kubeconfig cluster's CA (kubelet serving certificates signed by the cluster CA). */
  ca?: Buffer;
}

/**
 * Commands without stdin (every read: ls, stat, cat, tar c) go straight to the pod's kubelet at its
 * node's address (pod.status.hostIP), with the kubeconfig's credentials (the kubelet reviews them:
 * `get` on nodes/proxy), so the bytes never pass through the API server. Commands with stdin (the
 * writes) still go through the API server: the kubelet hands exec to the runtime's streaming
 * server, which answers v4.channel.k8s.io only (measured here against containerd 1.6: offered v5
 * and v4, it chose v4), and v4 cannot end stdin, which every write needs.
 */
export function kubeletDialer(kc: KubeConfig, kubelet: KubeletAccess, hostIP: string, namespace: string, pod: string, container: string): ExecDialer {
  const api = apiServerDialer(kc, namespace, pod, container);
  const base = `https://${hostIP.includes(":") ? `[${hostIP}]` : hostIP}:${kubelet.port}`;
  return {
    description: `pod ${namespace}/${pod} container ${container} (reads via the kubelet at ${base})`,
    url: (argv, stdin) => (stdin ? api.url(argv, stdin) : kubeletExecUrl(base, namespace, pod, container, argv, false)),
    answeredBy: (stdin) => (stdin ? "the API server" : `the kubelet at ${base}`),
    options: async (stdin) => {
      if (stdin) return api.options(stdin);
      const o: ClientOptions = {};
      await kc.applyToHTTPSOptions(o);
      if (kubelet.ca) o.ca = kubelet.ca;
      return o;
    },
  };
}

export interface ExecResolverOptions {
  kubeConfig: KubeConfig;
  pods: PodSource;
  /** Reads straight to the kubelets (kubeletDialer); unset: everything through the API server. */
  kubelet?: KubeletAccess;
}

export class ExecResolver implements Resolver {
  private readonly cache = new Map<string, ExecFs>();

  constructor(private readonly options: ExecResolverOptions) {}

  async resolve(name: ContainerName): Promise<ContainerFs> {
    if (!name.namespace || !name.pod) throw invalidArgument("container.namespace and container.pod are required");
    const pod = await this.options.pods.getPod(name.namespace, name.pod);
    // no node check: exec reaches a pod on any node
    const c = podContainer(pod, name.container, undefined);
    const key = `${name.namespace}/${name.pod}/${c.name}/${c.containerId}`;
    let fs = this.cache.get(key);
    if (!fs) {
      const { kubeConfig, kubelet } = this.options;
      const hostIP = pod.status?.hostIP;
      if (kubelet && !hostIP) throw unavailable(`pod ${name.namespace}/${name.pod} has no host IP yet: its kubelet cannot be reached`);
      fs = new ExecFs(
        kubelet && hostIP
          ? kubeletDialer(kubeConfig, kubelet, hostIP, name.namespace, name.pod, c.name)
          : apiServerDialer(kubeConfig, name.namespace, name.pod, c.name),
      );
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, fs);
    }
    return fs;
  }

  async close(): Promise<void> {
    this.cache.clear();
  }
}
