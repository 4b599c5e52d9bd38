// `podfiles agent`: the node agent (DaemonSet, hostPID). Complete (commander fills the defaults)
// → Validate (into a resolved type) → Run.
import { existsSync, readFileSync } from "node:fs";
import type { Command } from "commander";
import { jsonLogger } from "../../log.js";
import { createServer } from "../../server/server.js";
import { addAuthOptions, buildAuth, clientCaNeedsKubernetes, kubernetesAuth, loadClusterClientCa, loadKubeReviews, type AuthFlags } from "../auth-options.js";
import { closeOnSignal } from "../close-on-signal.js";
import { addConnectionOptions, connectionLimits, type ConnectionFlags } from "../connection-options.js";
import { addListenOptions, readClientCa, serverTls, validateListen, type ListenFlags, type ResolvedListen } from "../listen-options.js";
import { SERVICE_ACCOUNT_DIR, ServiceAccountToken, agentCredentialCheck, serviceAccountOf } from "../../auth/agent-credential.js";
import { KubeAuth, type KubeReviews } from "../../auth/kubernetes.js";
import { callerCredentials } from "../../auth/caller-to-forward.js";
import { unauthenticated } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { KubeletAccess } from "../../resolve/exec-resolver.js";
import type { Resolver } from "../../resolve/resolver.js";
import type { ServerOptions } from "../../server/server.js";
import { addKubeletOptions, kubeletAccess } from "../kubelet-options.js";

/** The labels of deploy/daemonset.yaml's agent pods (and the Helm chart's). */
export const DEFAULT_AGENT_SELECTOR = "app.kubernetes.io/name=podfiles,app.kubernetes.io/component=agent";

export interface AgentOptions extends AuthFlags, ConnectionFlags, ListenFlags {
  criSocket?: string;
  procRoot: string;
  kubeconfig?: string;
  context?: string;
  nodeName?: string;
  /** Uploads keep setuid/setgid bits (default: dropped on every upload path). */
  allowSetid?: boolean;
  /** Forward calls for pods on other nodes to their agents (undefined: on when node and namespace are known). */
  forward?: boolean;
  /** The agents' namespace (default $POD_NAMESPACE, else the ServiceAccount's namespace file). */
  agentNamespace?: string;
  /** Label selector of the agents' pods (default DEFAULT_AGENT_SELECTOR). */
  agentSelector?: string;
  /** The agents' ServiceAccount (default: from this agent's own token). */
  agentServiceAccount?: string;
  /** This agent's ServiceAccount token (sent to peers; default the kubelet-mounted one). */
  agentTokenFile?: string;
  /** Serve pods on nodes without a ready agent here, through pods/exec (needs forwarding, and `create` on pods/exec). */
  execFallback?: boolean;
  /** With execFallback: reads straight to the kubelets (kubelet-options.ts). */
  execReadsViaKubelet?: boolean;
  kubeletPort?: string;
  kubeletCertificateAuthority?: string;
}

export interface ResolvedAgent extends AgentOptions {
  listen: ResolvedListen;
  agentSelector: string;
  agentTokenFile: string;
  /** Forwarding, when on: the agents' namespace (node name is o.nodeName). */
  forwarding?: { namespace: string; node: string };
  kubelet?: KubeletAccess;
}

function readNamespaceFile(): string | undefined {
  try {
    return readFileSync(`${SERVICE_ACCOUNT_DIR}/namespace`, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export function validateAgent(o: AgentOptions): ResolvedAgent {
  const listen = validateListen(o);
  if (listen.clientCaFile && listen.clientCaFile !== "none" && !kubernetesAuth(o)) throw new Error(clientCaNeedsKubernetes);
  if (!existsSync(`${o.procRoot}/self`)) throw new Error(`--proc-root ${o.procRoot}: not a proc filesystem (no ${o.procRoot}/self)`);
  if (o.criSocket && o.criSocket !== "none" && !existsSync(o.criSocket)) throw new Error(`--cri-socket ${o.criSocket}: no such socket`);
  if (o.kubeconfig && !existsSync(o.kubeconfig)) throw new Error(`--kubeconfig ${o.kubeconfig}: no such file`);
  const namespace = o.agentNamespace || process.env["POD_NAMESPACE"] || readNamespaceFile();
  if (o.forward === true && (!o.nodeName || !namespace)) {
    throw new Error(
      `--forward needs this node's name (--node-name / NODE_NAME) and the agents' namespace (--agent-namespace / POD_NAMESPACE)${o.nodeName ? "" : ": no node name"}${namespace ? "" : ": no namespace"}`,
    );
  }
  const on = o.forward !== false && !!o.nodeName && !!namespace;
  if (o.execFallback && !on) {
    throw new Error(
      `--exec-fallback needs forwarding (the agents' directory tells which nodes have no agent): ${o.forward === false ? "--no-forward given" : `${o.nodeName ? "" : "no node name (--node-name / NODE_NAME)"}${!o.nodeName && !namespace ? ", " : ""}${namespace ? "" : "no agents' namespace (--agent-namespace / POD_NAMESPACE)"}`}`,
    );
  }
  if (o.execReadsViaKubelet && !o.execFallback) throw new Error("--exec-reads-via-kubelet needs --exec-fallback");
  const kubelet = kubeletAccess(o);
  return {
    ...o,
    kubelet,
    agentSelector: o.agentSelector ?? DEFAULT_AGENT_SELECTOR,
    agentTokenFile: o.agentTokenFile ?? `${SERVICE_ACCOUNT_DIR}/token`,
    listen,
    ...(on ? { forwarding: { namespace: namespace!, node: o.nodeName! } } : {}),
  };
}

export async function runAgent(o: ResolvedAgent) {
  const logger = jsonLogger();
  const { port, host } = o.listen;
  if (!o.nodeName) logger.warn({ msg: "no --node-name / NODE_NAME: pods on any node are looked up here (only right on a one-node cluster)" });
  const clientCa = await agentClientCa(o, logger);
  // Non-loopback without --auth is refused here (unless --insecure-allow-anonymous).
  const kubeReviews = await loadKubeReviews(o);
  const auth = buildAuth(o, { host, logger, kubeReviews, clientCertificates: clientCa.pem !== undefined });
  const { tls, ephemeral } = await serverTls(o.listen, clientCa.pem);
  const { createAgentResolver } = await import("../../resolve/agent-resolver.js"); // loads the Kubernetes client
  const { KubePodSource, loadKubeConfig } = await import("../../resolve/kube-pods.js");
  const kc = loadKubeConfig({ kubeconfig: o.kubeconfig, context: o.context });
  const pods = new KubePodSource(kc);
  const kube = createAgentResolver({ ...o, pods, logger });
  const token = new ServiceAccountToken(o.agentTokenFile);
  const forwarding = o.forwarding ? await forwardOptions(o, o.forwarding, { kc, pods, token, authenticate: auth.authenticate, logger }) : undefined;
  const resolver = forwarding && o.execFallback ? await execFallbackResolver(o.forwarding!.node, kube, forwarding, { kc, pods, logger }, o.kubelet) : kube;
  const forwarded = agentCheck(o, token, kubeReviews, logger);
  const server = await createServer({
    resolver,
    logger,
    tls,
    ...auth.server,
    connections: connectionLimits(o),
    uploads: { allowSetid: o.allowSetid },
    forward: forwarding?.options,
    forwarded,
  }).listen(port, host);
  logger.info({
    msg: "agent listening",
    auth: auth.summary,
    connections: server.limits,
    // cleartext first when served: in-cluster callers, other agents and probes use it; TLS is there for client certificates
    url: server.cleartextUrl ?? server.url,
    ...(tls ? { tlsUrl: server.url } : {}),
    tls: tls
      ? {
          clientCa: clientCa.source,
          cleartextToo: tls.allowCleartext === true,
          servingCert: ephemeral ? `ephemeral self-signed, SHA-256 ${ephemeral.fingerprint256}` : o.listen.tls?.certFile,
        }
      : "off",
    node: o.nodeName,
    procRoot: o.procRoot,
    runtime: kube.roots.pidSource.description,
    forward: o.forwarding
      ? { namespace: o.forwarding.namespace, selector: o.agentSelector, agentCredential: forwarded ? "checked" : "not checked (no --auth kubernetes)" }
      : "off",
    execFallback:
      resolver !== kube
        ? `on (pods on nodes without a ready agent: pods/exec ${o.kubelet ? "to their kubelets for reads, through the API server for writes" : "through the API server"})`
        : "off",
  });
  closeOnSignal({ close: async () => (await server.close(), await forwarding?.close()) });
  return server;
}

type ForwardDeps = {
  kc: import("@kubernetes/client-node").KubeConfig;
  pods: import("../../resolve/kube-pods.js").PodSource;
  token: ServiceAccountToken;
  authenticate?: NonNullable<ServerOptions["forward"]>["authenticateCaller"];
  logger: Logger;
};

/** Placement (the pod's node) and the agents' directory (an informer over their pods) → the server's forward option. */
type Forwarding = {
  options: NonNullable<ServerOptions["forward"]>;
  placement: import("../../resolve/pod-placement.js").PodPlacement;
  peers: import("../../resolve/peer-agents.js").PeerAgents;
  close(): Promise<void>;
};

async function forwardOptions(o: ResolvedAgent, f: { namespace: string; node: string }, d: ForwardDeps): Promise<Forwarding> {
  const { PeerAgents, agentPodInformer } = await import("../../resolve/peer-agents.js");
  const { PodPlacement } = await import("../../resolve/pod-placement.js");
  const peers = new PeerAgents({ informer: agentPodInformer(d.kc, f.namespace, o.agentSelector), port: o.listen.port, logger: d.logger });
  // a failed first list (RBAC: list/watch pods in the agents' namespace) is retried by the watch's error handler; an API
  // server that does not answer must not keep the agent from serving its own node: at most 10 s, then listen anyway
  const listed = peers.start().then(
    () => true,
    (err: unknown) => (
      d.logger.warn({
        msg: "cannot list the agent pods (forwarding answers FAILED_PRECONDITION until it can)",
        namespace: f.namespace,
        selector: o.agentSelector,
        error: String((err as Error)?.message ?? err),
      }),
      true
    ),
  );
  let timer: NodeJS.Timeout | undefined;
  const inTime = await Promise.race([listed, new Promise<false>((r) => (timer = setTimeout(() => r(false), 10_000)))]);
  clearTimeout(timer);
  if (!inTime) d.logger.warn({ msg: "the agent pods were not listed within 10 s; forwarding starts once they are", namespace: f.namespace });
  if (!d.token.read())
    d.logger.warn({
      msg: "no ServiceAccount token to present to other agents: forwarded calls will be refused where agent credentials are checked",
      file: o.agentTokenFile,
    });
  const placement = new PodPlacement({ pods: d.pods });
  return {
    options: {
      self: f.node,
      locate: async (name) => {
        const node = await placement.nodeOf(name.namespace, name.pod);
        if (!node || node === f.node) return undefined;
        // --exec-fallback: served here, where the NodeAwareResolver sends it to ExecFs
        if (o.execFallback && !peers.hasReadyAgent(node)) return undefined;
        return peers.agentOn(node);
      },
      authenticateCaller: d.authenticate,
      callerCredentials,
      agentCredential: () => d.token.header(),
    },
    placement,
    peers,
    close: () => peers.close(),
  };
}

/** --exec-fallback: this node's pods → the KubeResolver; pods on a node without a ready agent → ExecFs through the API server. */
async function execFallbackResolver(
  node: string,
  kube: Resolver,
  f: Forwarding,
  d: Omit<ForwardDeps, "token" | "authenticate">,
  kubelet: KubeletAccess | undefined,
): Promise<Resolver> {
  const { NodeAwareResolver } = await import("../../resolve/node-aware-resolver.js");
  const { ExecResolver } = await import("../../resolve/exec-resolver.js");
  return new NodeAwareResolver({
    self: node,
    nodeOf: (namespace, pod) => f.placement.nodeOf(namespace, pod),
    hasReadyAgent: (n) => f.peers.hasReadyAgent(n),
    local: kube,
    exec: new ExecResolver({ kubeConfig: d.kc, pods: d.pods, kubelet }),
    onExec: (name, podNode) =>
      d.logger.info({
        msg: "served through exec",
        reason: `no ready podfiles agent on node ${podNode}`,
        namespace: name.namespace,
        pod: name.pod,
        container: name.container || "(default)",
      }),
  });
}

/** With --auth kubernetes: forwarded calls must carry a token of the agents' own ServiceAccount. */
function agentCheck(o: ResolvedAgent, token: ServiceAccountToken, reviews: KubeReviews | undefined, logger: Logger): ServerOptions["forwarded"] {
  if (!reviews) return undefined;
  const own = token.read() ? serviceAccountOf(token.read()!) : undefined;
  const namespace = own?.namespace ?? o.forwarding?.namespace;
  const name = o.agentServiceAccount ?? own?.name;
  if (!namespace || !name) {
    logger.warn({ msg: "the agents' ServiceAccount is unknown (no token claims, no --agent-service-account): every forwarded call is refused here" });
    return {
      verifyAgent: async () =>
        Promise.reject(unauthenticated("forwarded call without a valid agent credential (this agent does not know the agents' ServiceAccount)")),
    };
  }
  // a KubeAuth without --token-audience: the mounted token is for the API server's own audience
  return { verifyAgent: agentCredentialCheck(new KubeAuth({ reviews }), `system:serviceaccount:${namespace}:${name}`) };
}

/**
 * The client CA for TLS client certificates: --client-ca-file, or by default (with --auth
 * kubernetes) the API server's own from kube-system/extension-apiserver-authentication when this
 * agent may read it; none with --client-ca-file=none, without --auth kubernetes, or when unreadable.
 */
async function agentClientCa(o: ResolvedAgent, logger: ReturnType<typeof jsonLogger>): Promise<{ pem?: string; source: string }> {
  const file = o.listen.clientCaFile;
  if (file === "none" || !kubernetesAuth(o)) return { source: "off" };
  if (file) return { pem: readClientCa(file), source: file };
  const found = await loadClusterClientCa(o);
  if ("pem" in found) return { pem: found.pem, source: "ConfigMap kube-system/extension-apiserver-authentication" };
  logger.info({
    msg: "TLS client certificates off: cannot read the API server's client CA (bind the Role kube-system/extension-apiserver-authentication-reader, or give --client-ca-file)",
    reason: found.reason,
  });
  return { source: "off" };
}

export function registerAgent(program: Command): void {
  const cmd = addConnectionOptions(addAuthOptions(program.command("agent"))).description(
    "serve the files of the containers on this node (the DaemonSet agent)",
  );
  addListenOptions(cmd, {
    hostHelp: "address to listen on (a non-loopback address needs --auth)",
    tls: true,
    clientCaHelp:
      "PEM CA bundle: TLS client certificates it signed are Kubernetes users (CN) and groups (O), authorized by SubjectAccessReview (needs --auth kubernetes; " +
      "default: the API server's client CA from ConfigMap kube-system/extension-apiserver-authentication when readable; 'none' = off). " +
      "Without --tls-cert a self-signed serving certificate is made at start and cleartext is served on the same port too",
  })
    .option("--cri-socket <path>", "CRI socket (default: auto-detect containerd / CRI-O / k3s; 'none' = cgroup scan only)")
    .option("--proc-root <dir>", "the host's /proc (hostPID)", "/host/proc")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, ~/.kube/config, else in-cluster)")
    .option("--context <name>", "kubeconfig context")
    .option("--node-name <name>", "this node's name (default $NODE_NAME, from the downward API)", process.env["NODE_NAME"])
    .option("--allow-setid", "uploads keep setuid/setgid bits (default: dropped on every upload path)")
    .option("--forward", "forward calls for pods on other nodes to the agent there (default: on when the node name and the agents' namespace are known)")
    .option("--no-forward", "serve only this node's pods (others: UNAVAILABLE naming their node)")
    .option("--agent-namespace <ns>", "the agents' namespace (default $POD_NAMESPACE, else the ServiceAccount's)")
    .option("--agent-selector <labels>", "label selector of the agents' pods", DEFAULT_AGENT_SELECTOR)
    .option("--agent-service-account <name>", "the agents' ServiceAccount, whose tokens forwarded calls must carry (default: from this agent's own token)")
    .option("--agent-token-file <file>", "this agent's ServiceAccount token, presented to other agents", `${SERVICE_ACCOUNT_DIR}/token`)
    .option(
      "--exec-fallback",
      "serve pods on a node without a ready agent here, by running commands in their containers through the API server's pods/exec " +
        "(needs forwarding, and `create` on pods/exec cluster-wide for this agent's ServiceAccount: deploy/exec-fallback/). Default: off (FAILED_PRECONDITION naming the node)",
    );
  addKubeletOptions(cmd, "with --exec-fallback").action(async (opts: AgentOptions) => {
    await runAgent(validateAgent(opts));
  });
}
