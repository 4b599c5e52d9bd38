// The generated FileService client over gRPC (h2c or TLS), with large HTTP/2
// windows: 8 MiB per stream, 32 MiB for the connection; messages up to 16 MiB.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Command } from "commander";
import { FileService } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { WideSessionManager, wideNodeOptions } from "../../client/wide-session-manager.js";
import { UsageError } from "./errors.js";

export type FileClient = Client<typeof FileService>;

const MiB = 1024 * 1024;
export const MAX_MESSAGE = 16 * MiB;

export interface ConnectionOptions {
  server?: string;
  token?: string;
}

export interface TargetOptions extends ConnectionOptions {
  namespace?: string;
  container?: string;
}

/** --server, --token, -n, -c on a command. */
export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option("--server <url>", "podfiles server (default $PODFILES_SERVER, else http://127.0.0.1:8080)")
    .option("--token <token>", "bearer token (default $PODFILES_TOKEN)")
    .option("-n, --namespace <ns>", "namespace for remote paths without one (default $PODFILES_NAMESPACE, else default)")
    .option("-c, --container <name>", "container for remote paths without one (default: the pod's default container)");
}

export function serverUrl(o: ConnectionOptions): string {
  const raw = o.server || process.env.PODFILES_SERVER || "http://127.0.0.1:8080";
  let url: URL;
  try {
    url = new URL(raw.includes("://") ? raw : `http://${raw}`);
  } catch {
    throw new UsageError(`--server ${raw}: not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--server ${raw}: use http:// (h2c) or https://`);
  return url.origin;
}

export function bearerToken(o: ConnectionOptions): string | undefined {
  return o.token || process.env.PODFILES_TOKEN || undefined;
}

export interface Connection {
  client: FileClient;
  url: string;
  /** Closes the HTTP/2 connection so the process can exit. */
  close(): void;
}

export function connect(o: ConnectionOptions): Connection {
  const url = serverUrl(o);
  const token = bearerToken(o);
  const interceptors: Interceptor[] = [];
  if (token) {
    interceptors.push((next) => (req) => {
      req.header.set("Authorization", `Bearer ${token}`);
      return next(req);
    });
  }
  const nodeOptions = wideNodeOptions;
  const sessionManager = new WideSessionManager(url, nodeOptions);
  const transport = createGrpcTransport({
    baseUrl: url,
    nodeOptions,
    sessionManager,
    readMaxBytes: MAX_MESSAGE,
    writeMaxBytes: MAX_MESSAGE,
    interceptors,
  });
  return { client: createClient(FileService, transport), url, close: () => sessionManager.abort() };
}
