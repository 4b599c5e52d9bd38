// namespace/pod/container → an ExecFs: the pod is read from the API (the named container, else the
// default one, as pod-container.ts decides; it must be running), and its commands run through the
// API server's pods/exec with the kubeconfig's credentials. One ExecFs per running container
// (keyed by its container ID), so what it learnt of the image (missing tools) and its upload
// claims are shared by every call; a restarted container gets a fresh one.
import type { KubeConfig } from "@kubernetes/client-node";
import type { ClientOptions } from "ws";
import { invalidArgument } from "../errors.js";
import type { ContainerFs } from "../fs/container-fs.js";
import { apiServerExecUrl, type ExecDialer } from "../fs/exec/exec-channel.js";
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

export interface ExecResolverOptions {
  kubeConfig: KubeConfig;
  pods: PodSource;
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
      fs = new ExecFs(apiServerDialer(this.options.kubeConfig, name.namespace, name.pod, c.name));
      if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, fs);
    }
    return fs;
  }

  async close(): Promise<void> {
    this.cache.clear();
  }
}
