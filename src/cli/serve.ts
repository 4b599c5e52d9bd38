// `podfiles serve`: one local directory served as a container (the embedded demo).
// Options → Complete (defaults, resolution) → Validate → Run, as kubectl's commands do.
import { resolve } from "node:path";
import { statSync } from "node:fs";
import type { Command } from "commander";
import { LocalResolver } from "../resolve/local-resolver.js";
import { createServer } from "../server/server.js";
import { jsonLogger } from "../log.js";
import { readFileSync } from "node:fs";

import { validateCri } from "./serve-cri.js";
import { addAuthOptions, buildAuth, loadKubeReviews, type AuthFlags } from "./auth-options.js";
import { closeOnSignal } from "./close-on-signal.js";
import { addConnectionOptions, connectionLimits, type ConnectionFlags } from "./connection-options.js";

export interface ServeOptions extends AuthFlags, ConnectionFlags {
  root: string;
  port: number;
  host: string;
  namespace: string;
  pod: string;
  container: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Local containers mode: serve the containers of this CRI socket instead of --root. */
  cri?: string;
  procRoot?: string;
  /** Uploads keep setuid/setgid bits (default: dropped on every upload path). */
  allowSetid?: boolean;
}

export function validateServe(o: ServeOptions): void {
  if (o.cri) return validateCri(o);
  let st;
  try {
    st = statSync(o.root);
  } catch {
    throw new Error(`--root ${o.root}: no such directory`);
  }
  if (!st.isDirectory()) throw new Error(`--root ${o.root}: not a directory`);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error(`--port ${o.port}: not a port number`);
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new Error("--tls-cert and --tls-key go together");
}

export async function runServe(o: ServeOptions) {
  if (o.cri) {
    // auth is not wired into --cri yet: it stays loopback-only (or explicitly anonymous)
    if (o.auth && o.auth !== "none") throw new Error("--auth is not supported with --cri yet");
    const auth = buildAuth(o, { host: o.host, logger: jsonLogger() });
    return (await import("./serve-cri.js")).runServeCri(o, { ...auth.server, connections: connectionLimits(o) });
  }
  const root = resolve(o.root);
  const resolver = new LocalResolver({ root, name: { namespace: o.namespace, pod: o.pod, container: o.container } });
  const logger = jsonLogger();
  const tls = o.tlsCert && o.tlsKey ? { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } : undefined;
  const auth = buildAuth(o, { host: o.host, logger, kubeReviews: await loadKubeReviews(o) });
  const server = await createServer({ resolver, logger, tls, ...auth.server, connections: connectionLimits(o), uploads: { allowSetid: o.allowSetid } }).listen(o.port, o.host);
  logger.info({
    msg: "listening",
    auth: auth.summary,
    connections: server.limits,
    url: server.url,
    port: server.port,
    root,
    container: `${o.namespace}/${o.pod}/${o.container}`,
    confinement: resolver.fs.strategy,
    allowSetid: o.allowSetid ?? false,
  });
  // temp files of uploads a killed server left behind (the walk is bounded and runs in the background)
  void resolver.fs.removeStaleTempFiles().then(
    (r) => r.removed > 0 && logger.info({ msg: "removed temp files of interrupted uploads", ...r }),
    (err: unknown) => logger.warn({ msg: "could not sweep temp files of interrupted uploads", error: err instanceof Error ? err.message : String(err) }),
  );
  const ref = `"container":{"namespace":"${o.namespace}","pod":"${o.pod}","container":"${o.container}"}`;
  process.stdout.write(
    [
      `podfiles is serving ${root} as the container ${o.namespace}/${o.pod}/${o.container} on ${server.url}`,
      `  grpcurl -plaintext ${server.host}:${server.port} list`,
      `  grpcurl -plaintext -d '{${ref},"path":"/"}' ${server.host}:${server.port} podfiles.v1.FileService/ListFiles`,
      `  curl -s -H 'Content-Type: application/json' -d '{${ref},"path":"/"}' ${server.url}/podfiles.v1.FileService/Stat`,
      "",
    ].join("\n"),
  );
  closeOnSignal(server);
  return server;
}

export function registerServe(program: Command): void {
  addConnectionOptions(addAuthOptions(program.command("serve")))
    .description("serve one local directory as a container (the local demo)")
    .option("--root <dir>", "directory to serve as the container's /", ".")
    .option("--port <n>", "port (0 = any free port)", (v) => Number(v), 8080)
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--namespace <name>", "namespace the directory answers to", "local")
    .option("--pod <name>", "pod name it answers to", "local")
    .option("--container <name>", "container name it answers to", "local")
    .option("--tls-cert <file>", "PEM certificate: serve TLS (h2 + http/1.1 by ALPN)")
    .option("--tls-key <file>", "PEM private key for --tls-cert")
    .option("--cri <socket>", "local containers mode: serve the containers of this CRI socket as <sandbox namespace>/<sandbox name>/<container name> (needs root)")
    .option("--proc-root <dir>", "with --cri: the host's /proc", "/proc")
    .option("--allow-setid", "uploads keep setuid/setgid bits (default: dropped on every upload path)")
    .action(async (opts: ServeOptions) => {
      validateServe(opts);
      await runServe(opts);
    });
}
