// The API server as the SDK's kubeconfig client sees it: the user's kubeconfig (through
// @kubernetes/client-node's KubeConfig, so client certificates, static and file tokens, exec plugins
// and OIDC all work as in kubectl), the two reads a call needs (the pod's node, the ready agent pod on
// that node) and the pods/portforward WebSocket to an agent. Loaded only when a kubeconfig is used
// (kube-client.ts imports it lazily): client-node is most of a small command's start-up otherwise.
import https from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import type WebSocket from "ws";
import { DEFAULT_AGENT_NAMESPACE, DEFAULT_AGENT_SELECTOR } from "./agent-defaults.js";
import { Code, PodfilesError, failedPrecondition, invalidArgument } from "./errors.js";
import { openPortForwardWebSocket } from "./portforward-socket.js";

export interface KubeClusterOptions {
  /** kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else in-cluster) */
  kubeconfig?: string;
  /** context (default: the kubeconfig's current-context) */
  context?: string;
  /** the agents' namespace (default "podfiles", as deploy/ installs them) */
  agentNamespace?: string;
  /** label selector of the agent pods (default: deploy/daemonset.yaml's labels) */
  agentSelector?: string;
  /** the agents' port when their pod spec names none (default 8080) */
  agentPort?: number;
}


export interface AgentPod {
  namespace: string;
  name: string;
  node: string;
  port: number;
}

interface PodLite {
  metadata: { name: string; namespace: string; deletionTimestamp?: string };
  spec: { nodeName?: string; containers?: { ports?: { name?: string; containerPort: number }[] }[] };
  status?: { phase?: string; conditions?: { type: string; status: string }[] };
}

/** The identity the kubeconfig's user presents, as far as the agent is concerned. */
export interface KubeIdentity {
  /** "Bearer …" when the user has a token (static, file, exec plugin, OIDC) */
  authorization?: string;
  /** PEM client certificate and key when the user has them */
  cert?: Buffer | string;
  key?: Buffer | string;
}

export class KubeCluster {
  readonly server: URL;
  readonly contextNamespace: string | undefined;
  readonly agentNamespace: string;
  readonly agentSelector: string;
  private readonly agentPort: number;

  private constructor(
    private readonly kc: KubeConfig,
    o: KubeClusterOptions,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw failedPrecondition(`kubeconfig context ${kc.getCurrentContext() || "(none)"} names no cluster`);
    this.server = new URL(cluster.server);
    this.contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace || undefined;
    this.agentNamespace = o.agentNamespace ?? DEFAULT_AGENT_NAMESPACE;
    this.agentSelector = o.agentSelector ?? DEFAULT_AGENT_SELECTOR;
    this.agentPort = o.agentPort ?? 8080;
  }

  static load(o: KubeClusterOptions): KubeCluster {
    const kc = new KubeConfig();
    try {
      if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
      else kc.loadFromDefault();
    } catch (err) {
      throw invalidArgument(`kubeconfig ${o.kubeconfig ?? process.env.KUBECONFIG ?? "~/.kube/config"}: ${(err as Error).message}`);
    }
    if (o.context) {
      if (!kc.getContextObject(o.context)) throw invalidArgument(`kubeconfig has no context ${o.context}`);
      kc.setCurrentContext(o.context);
    }
    return new KubeCluster(kc, o);
  }

  /** TLS and credentials for a connection to the API server (exec tokens refreshed as client-node does). */
  private async requestOptions(): Promise<https.RequestOptions> {
    const opts: https.RequestOptions = { headers: {} };
    await this.kc.applyToHTTPSOptions(opts);
    return opts;
  }

  async identity(): Promise<KubeIdentity> {
    const opts = await this.requestOptions();
    const auth = (opts.headers as Record<string, string | undefined>).Authorization;
    return { authorization: auth?.startsWith("Bearer ") ? auth : undefined, cert: opts.cert as Buffer | undefined, key: opts.key as Buffer | undefined };
  }

  private async getJson<T>(path: string, what: string): Promise<T> {
    const opts = await this.requestOptions();
    const url = new URL(path, this.server);
    return new Promise<T>((resolve, reject) => {
      const req = https.request(url, { ...opts, method: "GET", headers: { ...opts.headers, accept: "application/json" }, timeout: 30_000 }, (res) => {
        const body: Buffer[] = [];
        res.on("data", (d: Buffer) => body.push(d));
        res.on("end", () => {
          const text = Buffer.concat(body).toString("utf8");
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status === 200 && json) return resolve(json as T);
          const message = (json as { message?: string } | undefined)?.message ?? (text.slice(0, 500) || `HTTP ${status}`);
          reject(new PodfilesError(`${what}: ${message}`, apiCode(status)));
        });
        res.on("error", (err) => reject(new PodfilesError(`${what}: ${err.message}`, Code.Unavailable)));
      });
      req.on("timeout", () => req.destroy(new Error("no answer from the API server within 30 s")));
      req.on("error", (err) => reject(new PodfilesError(`${what}: cannot reach the API server ${this.server.origin} (${err.message})`, Code.Unavailable)));
      req.end();
    });
  }

  /** The node of a pod (spec.nodeName). */
  async podNode(namespace: string, pod: string): Promise<string> {
    const p = await this.getJson<PodLite>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}`, `pod ${namespace}/${pod}`);
    if (!p.spec.nodeName) throw failedPrecondition(`pod ${namespace}/${pod} is not scheduled on a node yet`);
    return p.spec.nodeName;
  }

  /** The Running, Ready, not terminating agent pod on `node`. */
  async readyAgent(node: string): Promise<AgentPod> {
    const q = new URLSearchParams({ labelSelector: this.agentSelector, fieldSelector: `spec.nodeName=${node}` });
    const list = await this.getJson<{ items: PodLite[] }>(`/api/v1/namespaces/${encodeURIComponent(this.agentNamespace)}/pods?${q}`, `agent pods in namespace ${this.agentNamespace}`);
    const ready = list.items.filter((p) => !p.metadata.deletionTimestamp && p.status?.phase === "Running" && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"));
    const pod = ready[0];
    if (!pod) {
      const seen = list.items.map((p) => `${p.metadata.name} (${p.metadata.deletionTimestamp ? "terminating" : (p.status?.phase ?? "pending")})`).join(", ");
      throw failedPrecondition(`no ready podfiles agent on node ${node} (pods in namespace ${this.agentNamespace} with labels ${this.agentSelector}: ${seen || "none"})`);
    }
    const ports = pod.spec.containers?.flatMap((c) => c.ports ?? []) ?? [];
    const port = (ports.find((p) => p.name === "grpc") ?? ports[0])?.containerPort ?? this.agentPort;
    return { namespace: pod.metadata.namespace, name: pod.metadata.name, node, port };
  }

  /** A pods/portforward WebSocket to the agent's port (errors as PodfilesErrors: 403 → PERMISSION_DENIED). */
  async portForward(agent: AgentPod, wsOptions: WebSocket.ClientOptions = {}): Promise<WebSocket> {
    const opts = await this.requestOptions();
    const url = new URL(`/api/v1/namespaces/${encodeURIComponent(agent.namespace)}/pods/${encodeURIComponent(agent.name)}/portforward?ports=${agent.port}`, this.server);
    url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
    try {
      return await openPortForwardWebSocket(url.href, { ...(opts as WebSocket.ClientOptions), ...wsOptions, headers: { ...(opts.headers as Record<string, string>), ...wsOptions.headers } });
    } catch (err) {
      const e = err as Error & { status?: number };
      const what = `cannot open a tunnel to agent pod ${agent.namespace}/${agent.name} on node ${agent.node}`;
      if (e.status === 403)
        throw new PodfilesError(`${what}: ${e.message} (a kubeconfig user needs create on pods/portforward in namespace ${agent.namespace}; see the README, "The CLI with a kubeconfig")`, Code.PermissionDenied);
      if (e.status === 401) throw new PodfilesError(`${what}: ${e.message}`, Code.Unauthenticated);
      throw new PodfilesError(`${what}: ${e.message}`, Code.Unavailable);
    }
  }
}

function apiCode(status: number): Code {
  if (status === 401) return Code.Unauthenticated;
  if (status === 403) return Code.PermissionDenied;
  if (status === 404) return Code.NotFound;
  if (status === 429 || status >= 500) return Code.Unavailable;
  return Code.Unknown;
}
