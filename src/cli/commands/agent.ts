// `podfiles agent`: the node agent (DaemonSet, hostPID). Complete (commander fills the defaults)
// → Validate (into a resolved type) → Run.
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { jsonLogger } from "../../log.js";
import { createServer } from "../../server/server.js";
import { addAuthOptions, buildAuth, clientCaNeedsKubernetes, kubernetesAuth, loadClusterClientCa, loadKubeReviews, type AuthFlags } from "../auth-options.js";
import { closeOnSignal } from "../close-on-signal.js";
import { addConnectionOptions, connectionLimits, type ConnectionFlags } from "../connection-options.js";
import { addListenOptions, readClientCa, serverTls, validateListen, type ListenFlags, type ResolvedListen } from "../listen-options.js";

export interface AgentOptions extends AuthFlags, ConnectionFlags, ListenFlags {
  criSocket?: string;
  procRoot: string;
  kubeconfig?: string;
  context?: string;
  nodeName?: string;
  /** Uploads keep setuid/setgid bits (default: dropped on every upload path). */
  allowSetid?: boolean;
}

export interface ResolvedAgent extends AgentOptions {
  listen: ResolvedListen;
}

export function validateAgent(o: AgentOptions): ResolvedAgent {
  const listen = validateListen(o);
  if (listen.clientCaFile && listen.clientCaFile !== "none" && !kubernetesAuth(o)) throw new Error(clientCaNeedsKubernetes);
  if (!existsSync(`${o.procRoot}/self`)) throw new Error(`--proc-root ${o.procRoot}: not a proc filesystem (no ${o.procRoot}/self)`);
  if (o.criSocket && o.criSocket !== "none" && !existsSync(o.criSocket)) throw new Error(`--cri-socket ${o.criSocket}: no such socket`);
  if (o.kubeconfig && !existsSync(o.kubeconfig)) throw new Error(`--kubeconfig ${o.kubeconfig}: no such file`);
  return { ...o, listen };
}

export async function runAgent(o: ResolvedAgent) {
  const logger = jsonLogger();
  const { port, host } = o.listen;
  if (!o.nodeName) logger.warn({ msg: "no --node-name / NODE_NAME: pods on any node are looked up here (only right on a one-node cluster)" });
  const clientCa = await agentClientCa(o, logger);
  // Non-loopback without --auth is refused here (unless --insecure-allow-anonymous).
  const auth = buildAuth(o, { host, logger, kubeReviews: await loadKubeReviews(o), clientCertificates: clientCa.pem !== undefined });
  const { tls, ephemeral } = await serverTls(o.listen, clientCa.pem);
  const { createAgentResolver } = await import("../../resolve/agent-resolver.js"); // loads the Kubernetes client
  const resolver = createAgentResolver({ ...o, logger });
  const server = await createServer({ resolver, logger, tls, ...auth.server, connections: connectionLimits(o), uploads: { allowSetid: o.allowSetid } }).listen(port, host);
  logger.info({
    msg: "agent listening",
    auth: auth.summary,
    connections: server.limits,
    // cleartext first when served: in-cluster callers, other agents and probes use it; TLS is there for client certificates
    url: server.cleartextUrl ?? server.url,
    ...(tls ? { tlsUrl: server.url } : {}),
    tls: tls ? { clientCa: clientCa.source, cleartextToo: tls.allowCleartext === true, servingCert: ephemeral ? `ephemeral self-signed, SHA-256 ${ephemeral.fingerprint256}` : o.listen.tls?.certFile } : "off",
    node: o.nodeName,
    procRoot: o.procRoot,
    runtime: resolver.roots.pidSource.description,
  });
  closeOnSignal(server);
  return server;
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
  logger.info({ msg: "TLS client certificates off: cannot read the API server's client CA (bind the Role kube-system/extension-apiserver-authentication-reader, or give --client-ca-file)", reason: found.reason });
  return { source: "off" };
}

export function registerAgent(program: Command): void {
  const cmd = addConnectionOptions(addAuthOptions(program.command("agent"))).description("serve the files of the containers on this node (the DaemonSet agent)");
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
    .action(async (opts: AgentOptions) => {
      await runAgent(validateAgent(opts));
    });
}
