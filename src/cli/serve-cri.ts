// `podfiles serve --cri SOCKET`: the local containers mode. Containers of a local containerd or
// CRI-O are addressed by their pod sandbox's metadata namespace/name and the container's name, as
// the kubelet sets them; no Kubernetes API involved.
import { existsSync, statSync } from "node:fs";
import { jsonLogger } from "../log.js";
import { CriPodResolver } from "../resolve/cri-pod-resolver.js";
import { createServer, type ServerOptions } from "../server/server.js";
import { closeOnSignal } from "./close-on-signal.js";

export interface ServeCriOptions {
  cri?: string;
  procRoot?: string;
  port: number;
  host: string;
  tlsCert?: string;
  tlsKey?: string;
  /** Uploads keep setuid/setgid bits. */
  allowSetid?: boolean;
}

export function validateCri(o: ServeCriOptions): void {
  const socket = o.cri!;
  let isSocket = false;
  try {
    isSocket = statSync(socket).isSocket();
  } catch {
    throw new Error(`--cri ${socket}: no such socket`);
  }
  if (!isSocket) throw new Error(`--cri ${socket}: not a unix socket`);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error(`--port ${o.port}: not a port number`);
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new Error("--tls-cert and --tls-key go together");
  const procRoot = o.procRoot ?? "/proc";
  if (!existsSync(`${procRoot}/self`)) throw new Error(`--proc-root ${procRoot}: not a proc filesystem`);
}

/** `flags`: the server options the CLI built from its flags (the no-auth Host check, CORS, connection limits). */
export async function runServeCri(o: ServeCriOptions, flags: Omit<ServerOptions, "resolver" | "logger" | "tls"> = {}) {
  const { readFileSync } = await import("node:fs");
  const logger = jsonLogger();
  const resolver = new CriPodResolver({ socketPath: o.cri!, procRoot: o.procRoot ?? "/proc" });
  // fail now, naming the socket, rather than on the first request
  const version = await resolver.runtimeVersion();
  const tls = o.tlsCert && o.tlsKey ? { cert: readFileSync(o.tlsCert), key: readFileSync(o.tlsKey) } : undefined;
  const server = await createServer({ ...flags, resolver, logger, tls, uploads: { allowSetid: o.allowSetid } }).listen(o.port, o.host);
  logger.info({ msg: "listening", url: server.url, connections: server.limits, cri: o.cri, runtime: `${version.runtimeName} ${version.runtimeVersion}` });
  process.stdout.write(
    [
      `podfiles is serving the containers of ${version.runtimeName} ${version.runtimeVersion} (unix:${o.cri}) on ${server.url}`,
      `  containers are <pod sandbox namespace>/<pod sandbox name>/<container name> (crictl pods; crictl ps)`,
      `  grpcurl -plaintext -d '{"container":{"namespace":"NS","pod":"POD","container":"NAME"},"path":"/"}' ${server.host}:${server.port} podfiles.v1.FileService/ListFiles`,
      "",
    ].join("\n"),
  );
  closeOnSignal(server);
  return server;
}
