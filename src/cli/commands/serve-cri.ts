// `podfiles serve --cri SOCKET`: the local containers mode. Containers of a local containerd or
// CRI-O are addressed by their pod sandbox's metadata namespace/name and the container's name, as
// the kubelet sets them; no Kubernetes API involved.
import { existsSync, statSync } from "node:fs";
import { jsonLogger } from "../../log.js";
import { createServer, type ServerOptions } from "../../server/server.js";
import { closeOnSignal } from "../close-on-signal.js";
import { readTls, validateListen, type ListenFlags, type ResolvedListen } from "../listen-options.js";

export interface ServeCriOptions extends ListenFlags {
  cri: string;
  procRoot?: string;
  /** Uploads keep setuid/setgid bits. */
  allowSetid?: boolean;
}

export interface ResolvedServeCri {
  mode: "cri";
  cri: string;
  procRoot: string;
  listen: ResolvedListen;
  allowSetid: boolean;
}

export function validateServeCri(o: ServeCriOptions): ResolvedServeCri {
  const socket = o.cri;
  let isSocket = false;
  try {
    isSocket = statSync(socket).isSocket();
  } catch {
    throw new Error(`--cri ${socket}: no such socket`);
  }
  if (!isSocket) throw new Error(`--cri ${socket}: not a unix socket`);
  if (o.clientCaFile) throw new Error("--client-ca-file is not supported with --cri (it has no Kubernetes auth to authorize certificate users)");
  const listen = validateListen(o);
  const procRoot = o.procRoot ?? "/proc";
  if (!existsSync(`${procRoot}/self`)) throw new Error(`--proc-root ${procRoot}: not a proc filesystem`);
  return { mode: "cri", cri: socket, procRoot, listen, allowSetid: o.allowSetid ?? false };
}

/** `flags`: the server options the CLI built from its flags (the no-auth Host check, CORS, connection limits). */
export async function runServeCri(o: ResolvedServeCri, flags: Omit<ServerOptions, "resolver" | "logger" | "tls"> = {}) {
  const logger = jsonLogger();
  // loaded here, not at the top: the CRI client brings @grpc/grpc-js and protobufjs, 2.5 MB of heap
  // (15.8 → 13.3 MB after a mark-compact) that every other serve mode carried for nothing
  const { CriPodResolver } = await import("../../resolve/cri-pod-resolver.js");
  const resolver = new CriPodResolver({ socketPath: o.cri, procRoot: o.procRoot });
  // fail now, naming the socket, rather than on the first request
  const version = await resolver.runtimeVersion();
  const server = await createServer({ ...flags, resolver, logger, tls: readTls(o.listen), uploads: { allowSetid: o.allowSetid } }).listen(
    o.listen.port,
    o.listen.host,
  );
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
