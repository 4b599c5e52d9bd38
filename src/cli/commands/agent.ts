// `podfiles agent`: the node agent (DaemonSet, hostPID). Complete (commander fills the defaults)
// → Validate (into a resolved type) → Run.
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { jsonLogger } from "../../log.js";
import { createServer } from "../../server/server.js";
import { addAuthOptions, buildAuth, loadKubeReviews, type AuthFlags } from "../auth-options.js";
import { closeOnSignal } from "../close-on-signal.js";
import { addConnectionOptions, connectionLimits, type ConnectionFlags } from "../connection-options.js";
import { addListenOptions, validateListen, type ResolvedListen } from "../listen-options.js";

export interface AgentOptions extends AuthFlags, ConnectionFlags {
  port: number;
  host: string;
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
  if (!existsSync(`${o.procRoot}/self`)) throw new Error(`--proc-root ${o.procRoot}: not a proc filesystem (no ${o.procRoot}/self)`);
  if (o.criSocket && o.criSocket !== "none" && !existsSync(o.criSocket)) throw new Error(`--cri-socket ${o.criSocket}: no such socket`);
  if (o.kubeconfig && !existsSync(o.kubeconfig)) throw new Error(`--kubeconfig ${o.kubeconfig}: no such file`);
  return { ...o, listen };
}

export async function runAgent(o: ResolvedAgent) {
  const logger = jsonLogger();
  const { port, host } = o.listen;
  if (!o.nodeName) logger.warn({ msg: "no --node-name / NODE_NAME: pods on any node are looked up here (only right on a one-node cluster)" });
  // Non-loopback without --auth is refused here (unless --insecure-allow-anonymous).
  const auth = buildAuth(o, { host, logger, kubeReviews: await loadKubeReviews(o) });
  const { createAgentResolver } = await import("../../resolve/agent-resolver.js"); // loads the Kubernetes client
  const resolver = createAgentResolver({ ...o, logger });
  const server = await createServer({ resolver, logger, ...auth.server, connections: connectionLimits(o), uploads: { allowSetid: o.allowSetid } }).listen(port, host);
  logger.info({ msg: "agent listening", auth: auth.summary, connections: server.limits, url: server.url, node: o.nodeName, procRoot: o.procRoot, runtime: resolver.roots.pidSource.description });
  closeOnSignal(server);
  return server;
}

export function registerAgent(program: Command): void {
  const cmd = addConnectionOptions(addAuthOptions(program.command("agent"))).description("serve the files of the containers on this node (the DaemonSet agent)");
  addListenOptions(cmd, { hostHelp: "address to listen on (a non-loopback address needs --auth)", tls: false })
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
