// The CLI's connection: the SDK's Node client (src/client) for --server and --token.
import type { Command } from "commander";
import { createPodfilesClient, type PodfilesClient } from "../../client/node-client.js";
import { UsageError } from "./errors.js";

export type { PodfilesClient };

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
  client: PodfilesClient;
  url: string;
  /** Closes the HTTP/2 connection so the process can exit. */
  close(): void;
}

export function connect(o: ConnectionOptions): Connection {
  const url = serverUrl(o);
  const client = createPodfilesClient({ baseUrl: url, token: bearerToken(o) });
  return { client, url, close: () => client.close() };
}
