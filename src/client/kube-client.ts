// A client for a whole cluster from a kubeconfig, the way kubectl reaches pods: for each call the pod's
// node (GET the pod, cached 10 s), the ready podfiles agent on that node (a List of the agents'
// namespace), and an HTTP/2 connection to the agent's port through the API server (pods/portforward:
// a PortForwardSocket (WebSocket) or an SpdyPortForwardSocket under http2.connect, kube-cluster.ts
// picks the protocol). No network path to the nodes is needed, only the kubeconfig's API server.
//
// One connection per node, reused by every call for that node's pods. When the tunnel closes (the
// agent restarted, the API server or kubelet dropped it) the calls in flight on it fail UNAVAILABLE
// with the tunnel's own message, and the next call opens a new tunnel to whatever agent pod is then
// ready on the node.
//
// Identity: a kubeconfig user with a bearer token (static, tokenFile, exec plugin, OIDC) sends it to
// the agent on every call (refreshed as client-node refreshes it); the agent checks it with
// TokenReview + SubjectAccessReview. A user with only a client certificate speaks TLS inside the
// tunnel and presents that certificate (the agent verifies it against the cluster's client CA).
import type * as http2 from "node:http2";
import * as tls from "node:tls";
import type { Transport } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { Code, PodfilesError, failedPrecondition } from "./errors.js";
import type { AgentPod, KubeCluster, KubeClusterOptions } from "./kube-cluster.js";
import { clientNodeOptions, clientOnRoute, clientTransport, type ClientRoute, type PodfilesClient } from "./node-client.js";
import { PortForwardSocket } from "./portforward-socket.js";
import { SpdyPortForwardSocket } from "./portforward-spdy.js";
import type { ContainerRef, ResolvedTarget } from "./target.js";
import { WideSessionManager } from "./wide-session-manager.js";

export interface KubeconfigClientOptions extends KubeClusterOptions {
  /** the container of calls that name only a path */
  container?: ContainerRef;
  /** a bearer token for the agent instead of the kubeconfig user's own */
  token?: string;
  /**
   * TLS inside the tunnel, presenting the kubeconfig user's client certificate. Default: on when the
   * user has a certificate and no token (the agent must then accept TLS client certificates).
   */
  clientCertificate?: boolean;
  /** extra request headers */
  headers?: Record<string, string>;
  /** largest message either way (default 16 MiB) */
  maxMessageBytes?: number;
}

export interface KubeconfigClient extends PodfilesClient {
  /** the kubeconfig context's namespace, if it names one (the CLI's default for paths without one) */
  readonly contextNamespace: string | undefined;
}

/** How long a pod's node is remembered (a pod never moves; a pod of the same name may be recreated elsewhere). */
const POD_NODE_TTL_MS = 10_000;

type Container = ResolvedTarget["container"];

export async function connectWithKubeconfig(options: KubeconfigClientOptions = {}): Promise<KubeconfigClient> {
  const { KubeCluster } = await import("./kube-cluster.js"); // ws, js-yaml: loaded only here
  const cluster = await KubeCluster.load(options);
  const identity = await cluster.identity();
  const headers: Record<string, string> = { ...options.headers };
  const useToken = options.token ? `Bearer ${options.token}` : identity.authorization;
  const useTls = options.clientCertificate ?? (!useToken && !!identity.cert && !!identity.key);
  if (useToken) headers.authorization = useToken;
  if (!useToken && !useTls)
    throw failedPrecondition(
      identity.cert
        ? "the kubeconfig's user has no bearer token, and clientCertificate is off: nothing for the agent to authorize"
        : "the kubeconfig's user has neither a bearer token nor a client certificate: nothing for the agent to authorize",
    );
  if (useTls && (!identity.cert || !identity.key)) throw failedPrecondition("clientCertificate: the kubeconfig's user has no client certificate and key");

  const refreshToken = async () => {
    if (options.token || !identity.authorization) return;
    const fresh = (await cluster.identity()).authorization;
    if (fresh) headers.authorization = fresh;
  };

  const podNodes = new Map<string, { node: string; at: number }>();
  const nodeOf = async (c: Container): Promise<string> => {
    const key = `${c.namespace}/${c.pod}`;
    const hit = podNodes.get(key);
    if (hit && Date.now() - hit.at < POD_NODE_TTL_MS) return hit.node;
    const node = await cluster.podNode(c.namespace, c.pod);
    podNodes.set(key, { node, at: Date.now() });
    return node;
  };

  const tunnels = new Map<string, NodeTunnel>();
  const tunnelFor = (node: string) => {
    let t = tunnels.get(node);
    if (!t) tunnels.set(node, (t = new NodeTunnel(cluster, node, headers, useTls ? identity : undefined, options.maxMessageBytes)));
    return t;
  };
  const ready = async (c: Container): Promise<NodeTunnel> => {
    const [t] = await Promise.all([nodeOf(c).then(tunnelFor), refreshToken()]);
    await t.ensure();
    return t;
  };

  const route: ClientRoute = {
    transport: routingTransport(
      async (c) => (await ready(c)).transport,
      (c, err, at) => restate(c, err, at),
    ),
    managerFor: async (c) => (await ready(c)).manager,
    restate: (c, err, at) => restate(c, err, at),
    close() {
      for (const t of tunnels.values()) t.close();
      cluster.close();
    },
  };
  function restate(c: Container, err: unknown, startedAt: number): unknown {
    const node = podNodes.get(`${c.namespace}/${c.pod}`)?.node;
    const failure = node ? tunnels.get(node)?.failureSince(startedAt) : undefined;
    const e = PodfilesError.from(err);
    if (!failure || e.code === Code.Canceled) return err;
    return new PodfilesError(`${failure.message} (the call failed: ${e.rawMessage}; the next call opens a new tunnel)`, Code.Unavailable, { cause: err });
  }

  const client = clientOnRoute(route, headers, options.container);
  return Object.assign(client, { contextNamespace: cluster.contextNamespace });
}

// zero masking key: the client→server masking of RFC 6455 protects browsers' shared proxies from
// cache poisoning; this is a Node client on TLS to the API server, and ws skips the XOR of every
// byte it sends when the key is zero
const wsOptions = { generateMask: (mask: Buffer) => void mask.fill(0) };

/** A tunnel to an agent's port, in either protocol. */
type TunnelSocket = PortForwardSocket | SpdyPortForwardSocket;

/** The connection to the agent on one node: an HTTP/2 session manager whose connections are tunnels. */
class NodeTunnel {
  readonly manager: Http2SessionManager;
  readonly transport: Transport;
  private preopened?: TunnelSocket;
  private live?: TunnelSocket;
  private opening?: Promise<void>;
  private failure?: { err: Error; at: number };
  private closed = false;

  constructor(
    private readonly cluster: KubeCluster,
    readonly node: string,
    headers: Record<string, string>,
    private readonly tlsIdentity: { cert?: Buffer | string; key?: Buffer | string } | undefined,
    maxMessageBytes: number | undefined,
  ) {
    const baseUrl = `${tlsIdentity ? "https" : "http"}://podfiles-agent.${node}`;
    const nodeOptions = clientNodeOptions({ createConnection: () => this.nextConnection() } as http2.ClientSessionOptions);
    this.manager = new WideSessionManager(baseUrl, nodeOptions);
    this.transport = clientTransport(baseUrl, this.manager, nodeOptions, headers, maxMessageBytes);
  }

  /** A tunnel is open (or one is opened now and handed to the next HTTP/2 connection); fails with the reason if none can be. */
  async ensure(): Promise<void> {
    if (this.closed) throw new PodfilesError("the client is closed", Code.Canceled);
    if ((this.live && !this.live.destroyed) || (this.preopened && !this.preopened.destroyed)) return;
    this.opening ??= (async () => {
      const agent = await this.cluster.readyAgent(this.node);
      let protocol = this.cluster.tunnelProtocol;
      let socket = this.open(agent);
      try {
        try {
          await socket.ready();
        } catch (err) {
          // the API server refused the WebSocket upgrade, and the cluster switched to SPDY: once more
          if (protocol === this.cluster.tunnelProtocol) throw err;
          protocol = this.cluster.tunnelProtocol;
          socket = this.open(agent);
          await socket.ready();
        }
      } catch (err) {
        throw err instanceof PodfilesError ? err : new PodfilesError((err as Error).message, Code.Unavailable);
      }
      this.preopened = socket;
    })().finally(() => (this.opening = undefined));
    await this.opening;
  }

  /** When the tunnel in use failed after `since`: its error. */
  failureSince(since: number): Error | undefined {
    return this.failure && this.failure.at >= since ? this.failure.err : undefined;
  }

  private open(agent: AgentPod): TunnelSocket {
    const describe = `agent pod ${agent.namespace}/${agent.name} on node ${agent.node}`;
    const socket =
      this.cluster.tunnelProtocol === "spdy"
        ? new SpdyPortForwardSocket(this.cluster.portForwardSpdy(agent), { describe })
        : new PortForwardSocket(this.cluster.portForward(agent, wsOptions), { describe });
    // a failure counts once the tunnel is handed to calls (preopened, live): one that never opened
    // fails ensure() itself, and a refused WebSocket recorded here replaced the first call's own
    // error after the fallback to SPDY (a NOT_FOUND became UNAVAILABLE naming the WebSocket)
    socket.on("error", (err) => {
      if (socket === this.preopened || socket === this.live) this.failure = { err, at: Date.now() };
    });
    return socket;
  }

  /** http2.connect's createConnection: the tunnel ensure() opened, else one opened now. */
  private nextConnection(): import("node:stream").Duplex {
    let socket = this.preopened && !this.preopened.destroyed ? this.preopened : undefined;
    this.preopened = undefined;
    if (!socket) {
      // the session manager reconnects on its own (an idle session it closed): open a tunnel without waiting
      const agent = this.cluster.readyAgent(this.node);
      const describe = `the agent on node ${this.node}`;
      socket =
        this.cluster.tunnelProtocol === "spdy"
          ? new SpdyPortForwardSocket(
              agent.then((a) => this.cluster.portForwardSpdy(a)),
              { describe },
            )
          : new PortForwardSocket(
              agent.then((a) => this.cluster.portForward(a, wsOptions)),
              { describe },
            );
      socket.on("error", (err) => (this.failure = { err, at: Date.now() }));
    }
    this.live = socket;
    if (!this.tlsIdentity) return socket;
    // TLS inside the tunnel, presenting the user's client certificate. The server certificate is not
    // verified and no name is checked: the API server (authenticated by the kubeconfig's CA) chose
    // the endpoint — the pod we named, on its node — so the tunnel is already the authenticated
    // channel; the agent's serving certificate may be self-signed, and a pod has no name to check.
    const secure = tls.connect({
      socket,
      cert: this.tlsIdentity.cert,
      key: this.tlsIdentity.key,
      ALPNProtocols: ["h2"],
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    secure.on("error", (err) => {
      if (!this.failure || Date.now() - this.failure.at > 1000)
        this.failure = {
          err: new Error(`TLS inside the tunnel to the agent on node ${this.node} failed (${err.message}): does the agent accept TLS client certificates?`),
          at: Date.now(),
        };
    });
    return secure;
  }

  close(): void {
    this.closed = true;
    this.manager.abort();
    this.preopened?.destroy();
    this.live?.destroy();
  }
}

/** A Transport that picks the node's transport from the container a request names. */
function routingTransport(transportFor: (c: Container) => Promise<Transport>, restate: (c: Container, err: unknown, startedAt: number) => unknown): Transport {
  return {
    async unary(method, signal, timeoutMs, header, input, contextValues) {
      const c = containerOf(input);
      const at = Date.now();
      try {
        return await (await transportFor(c)).unary(method, signal, timeoutMs, header, input, contextValues);
      } catch (err) {
        throw restate(c, err, at);
      }
    },
    async stream(method, signal, timeoutMs, header, input, contextValues) {
      const it = input[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done) throw failedPrecondition(`${method.name}: no request message`);
      const c = containerOf(first.value);
      const rest = (async function* () {
        yield first.value;
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
      })();
      const at = Date.now();
      let res;
      try {
        res = await (await transportFor(c)).stream(method, signal, timeoutMs, header, rest, contextValues);
      } catch (err) {
        throw restate(c, err, at);
      }
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } catch (err) {
            throw restate(c, err, at);
          }
        })(),
      };
    },
  };
}

/** The ContainerRef a request names: `container`, or one inside its header/oneof. */
function containerOf(msg: unknown, depth = 0): Container {
  const m = msg as Record<string, unknown> | undefined;
  if (m && typeof m === "object") {
    const c = m.container as Container | undefined;
    if (c && typeof c === "object" && typeof c.pod === "string") return c;
    if (depth < 3) {
      for (const v of Object.values(m)) {
        if (v && typeof v === "object") {
          try {
            return containerOf(v, depth + 1);
          } catch {
            // not in this field
          }
        }
      }
    }
  }
  if (depth > 0) throw new Error("no container");
  throw failedPrecondition("the request names no container (namespace/pod): a kubeconfig client routes each call by its pod");
}
