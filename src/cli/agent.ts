// `podfiles agent`: the node agent (DaemonSet, hostPID). Options → Validate → Run.
import { existsSync } from "node:fs";
import type { Command } from "commander";
import { createAgentResolver } from "../agent/agent.js";
import { jsonLogger } from "../log.js";
import { createServer } from "../server/server.js";

export interface AgentOptions {
  port: number;
  host: string;
  criSocket?: string;
  procRoot: string;
  kubeconfig?: string;
  context?: string;
  nodeName?: string;
  insecureAllowUnauthenticated?: boolean;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

export function validateAgent(o: AgentOptions): void {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error(`--port ${o.port}: not a port number`);
  // there is no authentication in front of the handlers yet: reading and writing container files
  // is as powerful as exec, so only loopback unless the operator says otherwise on purpose
  if (!LOOPBACK.has(o.host) && !o.insecureAllowUnauthenticated) {
    throw new Error(`--host ${o.host}: the agent has no authentication yet; listen on a loopback address, or add --insecure-allow-unauthenticated`);
  }
  if (!existsSync(`${o.procRoot}/self`)) throw new Error(`--proc-root ${o.procRoot}: not a proc filesystem (no ${o.procRoot}/self)`);
  if (o.criSocket && o.criSocket !== "none" && !existsSync(o.criSocket)) throw new Error(`--cri-socket ${o.criSocket}: no such socket`);
  if (o.kubeconfig && !existsSync(o.kubeconfig)) throw new Error(`--kubeconfig ${o.kubeconfig}: no such file`);
}

export async function runAgent(o: AgentOptions) {
  const logger = jsonLogger();
  if (!o.nodeName) logger.warn({ msg: "no --node-name / NODE_NAME: pods on any node are looked up here (only right on a one-node cluster)" });
  if (!LOOPBACK.has(o.host)) {
    logger.warn({ msg: "INSECURE: serving every container's files on this node WITHOUT AUTHENTICATION", host: o.host });
  }
  const resolver = createAgentResolver({ ...o, logger });
  const server = await createServer({ resolver, logger }).listen(o.port, o.host);
  logger.info({ msg: "agent listening", url: server.url, node: o.nodeName, procRoot: o.procRoot, runtime: resolver.roots.pidSource.description });
  const stop = async () => {
    await server.close();
    await resolver.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return server;
}

export function registerAgent(program: Command): void {
  program
    .command("agent")
    .description("serve the files of the containers on this node (the DaemonSet agent)")
    .option("--port <n>", "port (0 = any free port)", (v) => Number(v), 8080)
    .option("--host <addr>", "address to listen on (non-loopback needs --insecure-allow-unauthenticated until auth lands)", "127.0.0.1")
    .option("--cri-socket <path>", "CRI socket (default: auto-detect containerd / CRI-O / k3s; 'none' = cgroup scan only)")
    .option("--proc-root <dir>", "the host's /proc (hostPID)", "/host/proc")
    .option("--kubeconfig <file>", "kubeconfig (default: $KUBECONFIG, ~/.kube/config, else in-cluster)")
    .option("--context <name>", "kubeconfig context")
    .option("--node-name <name>", "this node's name (default $NODE_NAME, from the downward API)", process.env["NODE_NAME"])
    .option("--insecure-allow-unauthenticated", "allow a non-loopback --host without authentication (DANGEROUS)")
    .action(async (opts: AgentOptions) => {
      validateAgent(opts);
      await runAgent(opts);
    });
}
