// The API server as the SDK's kubeconfig client sees it: the user's kubeconfig (kubeconfig.ts: client
// certificates, static and file tokens, exec plugins; OIDC auth-providers through client-node), the
// two reads a call needs (the pod's node, the ready agent pod on that node) and the pods/portforward
// tunnel to an agent: a WebSocket (v4.channel.k8s.io), or SPDY where the API server refuses the
// WebSocket upgrade (as kubectl falls back) or the caller asks for it. One keep-alive agent: the
// reads and the WebSocket upgrade share a TLS connection (an SPDY upgrade takes one of its own).
import https from "node:https";
import type WebSocket from "ws";
import { DEFAULT_AGENT_NAMESPACE, DEFAULT_AGENT_SELECTOR } from "./agent-defaults.js";
import { Code, PodfilesError, failedPrecondition } from "./errors.js";
import { loadKubeconfig, type KubeCredentials, type LoadedKubeconfig } from "./kubeconfig.js";
import { openPortForwardWebSocket } from "./portforward-socket.js";
import { openPortForwardSpdy, type SpdyUpgrade } from "./portforward-spdy.js";

/** The pods/portforward protocols a tunnel can speak. */
export type TunnelProtocol = "websocket" | "spdy";

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
  /**
   * pods/portforward protocol: "auto" (default) speaks WebSocket and switches to SPDY for good once
   * the API server refuses a WebSocket upgrade (a server without WebSocket port-forward, or
   * a proxy without WebSockets), as kubectl does; "websocket" or "spdy" only that one.
   */
  tunnelProtocol?: TunnelProtocol | "auto";
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
  private readonly protocolChoice: TunnelProtocol | "auto";
  private webSocketRefused = false;

  private agent?: { key: string; agent: https.Agent };

  private constructor(
    private readonly kc: LoadedKubeconfig,
    o: KubeClusterOptions,
  ) {
    this.server = kc.server;
    this.contextNamespace = kc.namespace;
    this.agentNamespace = o.agentNamespace ?? DEFAULT_AGENT_NAMESPACE;
    this.agentSelector = o.agentSelector ?? DEFAULT_AGENT_SELECTOR;
    this.agentPort = o.agentPort ?? 8080;
    this.protocolChoice = o.tunnelProtocol ?? "auto";
  }

  /** The protocol tunnels are opened with now: the chosen one, or in "auto" WebSocket until it was refused. */
  get tunnelProtocol(): TunnelProtocol {
    if (this.protocolChoice !== "auto") return this.protocolChoice;
    return this.webSocketRefused ? "spdy" : "websocket";
  }

  static async load(o: KubeClusterOptions): Promise<KubeCluster> {
    const loaded = loadKubeconfig(o);
    if (loaded !== "auth-provider") return new KubeCluster(loaded, o);
    const { loadWithClientNode } = await import("./kubeconfig-client-node.js");
    return new KubeCluster(loadWithClientNode(o), o);
  }

  /** TLS and credentials for a connection to the API server (exec tokens refreshed when they expire). */
  private async requestOptions(): Promise<https.RequestOptions & { headers: Record<string, string> }> {
    const c = await this.kc.credentials();
    return { ...this.tlsOf(c), headers: c.authorization ? { Authorization: c.authorization } : {} };
  }

  private tlsOf(c: KubeCredentials): https.RequestOptions {
    const tls = { ca: c.ca, cert: c.cert, key: c.key, rejectUnauthorized: c.rejectUnauthorized, servername: c.servername };
    // one keep-alive agent per TLS identity (an exec plugin may hand out a new certificate)
    const key = `${c.cert?.toString("base64") ?? ""}|${c.key?.length ?? 0}`;
    if (this.agent?.key !== key) {
      this.agent?.agent.destroy();
      this.agent = { key, agent: new https.Agent({ ...tls, keepAlive: true, maxSockets: 4 }) };
    }
    return { ...tls, agent: this.agent.agent };
  }

  async identity(): Promise<KubeIdentity> {
    const c = await this.kc.credentials();
    return { authorization: c.authorization, cert: c.cert, key: c.key };
  }

  close(): void {
    this.agent?.agent.destroy();
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
    const list = await this.getJson<{ items: PodLite[] }>(
      `/api/v1/namespaces/${encodeURIComponent(this.agentNamespace)}/pods?${q}`,
      `agent pods in namespace ${this.agentNamespace}`,
    );
    const ready = list.items.filter(
      (p) => !p.metadata.deletionTimestamp && p.status?.phase === "Running" && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
    );
    const pod = ready[0];
    if (!pod) {
      const seen = list.items.map((p) => `${p.metadata.name} (${p.metadata.deletionTimestamp ? "terminating" : (p.status?.phase ?? "pending")})`).join(", ");
      throw failedPrecondition(
        `no ready podfiles agent on node ${node} (pods in namespace ${this.agentNamespace} with labels ${this.agentSelector}: ${seen || "none"})`,
      );
    }
    const ports = pod.spec.containers?.flatMap((c) => c.ports ?? []) ?? [];
    const port = (ports.find((p) => p.name === "grpc") ?? ports[0])?.containerPort ?? this.agentPort;
    return { namespace: pod.metadata.namespace, name: pod.metadata.name, node, port };
  }

  /**
   * A pods/portforward WebSocket to the agent's port (errors as PodfilesErrors: 403 → PERMISSION_DENIED).
   * In "auto", an upgrade the API server answers with anything but 101, 401, 403 or 404 (those would
   * be its answer to SPDY too) switches this cluster's tunnels to SPDY: tunnelProtocol says so, and
   * the caller opens the tunnel again.
   */
  async portForward(agent: AgentPod, wsOptions: WebSocket.ClientOptions = {}): Promise<WebSocket> {
    const opts = await this.requestOptions();
    const url = this.portForwardUrl(agent);
    url.protocol = url.protocol === "http:" ? "ws:" : "wss:";
    try {
      return await openPortForwardWebSocket(url.href, {
        ...(opts as WebSocket.ClientOptions),
        ...wsOptions,
        headers: { ...opts.headers, ...wsOptions.headers },
      });
    } catch (err) {
      const status = (err as { status?: number }).status;
      if (this.protocolChoice === "auto" && status !== undefined && ![401, 403, 404].includes(status)) this.webSocketRefused = true;
      throw this.tunnelFailure(agent, err, "WebSocket");
    }
  }

  /** A pods/portforward SPDY connection to the agent (errors as for portForward). */
  async portForwardSpdy(agent: AgentPod): Promise<SpdyUpgrade> {
    const { agent: _pooled, ...opts } = await this.requestOptions();
    try {
      return await openPortForwardSpdy(this.portForwardUrl(agent), agent.port, opts);
    } catch (err) {
      throw this.tunnelFailure(agent, err, "SPDY");
    }
  }

  private portForwardUrl(agent: AgentPod): URL {
    return new URL(
      `/api/v1/namespaces/${encodeURIComponent(agent.namespace)}/pods/${encodeURIComponent(agent.name)}/portforward?ports=${agent.port}`,
      this.server,
    );
  }

  private tunnelFailure(agent: AgentPod, err: unknown, protocol: "WebSocket" | "SPDY"): PodfilesError {
    const e = err as Error & { status?: number };
    const what = `cannot open a tunnel to agent pod ${agent.namespace}/${agent.name} on node ${agent.node}${protocol === "SPDY" ? " (SPDY)" : ""}`;
    if (e.status === 403)
      return new PodfilesError(
        `${what}: ${e.message} (a kubeconfig user needs create on pods/portforward in namespace ${agent.namespace}; see the README, "The CLI with a kubeconfig")`,
        Code.PermissionDenied,
      );
    if (e.status === 401) return new PodfilesError(`${what}: ${e.message}`, Code.Unauthenticated);
    return new PodfilesError(`${what}: ${e.message}`, Code.Unavailable);
  }
}

function apiCode(status: number): Code {
  if (status === 401) return Code.Unauthenticated;
  if (status === 403) return Code.PermissionDenied;
  if (status === 404) return Code.NotFound;
  if (status === 429 || status >= 500) return Code.Unavailable;
  return Code.Unknown;
}
