// The CLI's connection: the SDK's Node client (src/client). With --server (or $PODFILES_SERVER) it
// goes straight to that address; otherwise, when a kubeconfig is at hand (--kubeconfig, --context,
// $KUBECONFIG or ~/.kube/config), it reaches each pod's node agent through the API server as kubectl
// does (connectWithKubeconfig, loaded only then); with neither, http://127.0.0.1:8080 as before.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { createPodfilesClient, type PodfilesClient } from "../../client/node-client.js";
import { UsageError } from "./errors.js";

export type { PodfilesClient };

export interface ConnectionOptions {
  server?: string;
  token?: string;
  kubeconfig?: string;
  context?: string;
  /** "agent" (default) or "exec": no agent, pods/exec with the kubeconfig's credentials (exec-connection.ts). */
  via?: string;
}

export interface TargetOptions extends ConnectionOptions {
  namespace?: string;
  container?: string;
}

/** --server, --token, -n, -c on a command (`tail` keeps -n for its line count, as tail(1) does: shortNamespace false). */
export function addTargetOptions(cmd: Command, { shortNamespace = true } = {}): Command {
  return cmd
    .option("--server <url>", "podfiles server (default $PODFILES_SERVER, else http://127.0.0.1:8080)")
    .option("--token <token>", "bearer token (default $PODFILES_TOKEN; with a kubeconfig: the kubeconfig user's)")
    .option(
      "--kubeconfig <file>",
      "reach the pods' node agents through this kubeconfig's API server (default $KUBECONFIG, else ~/.kube/config; used when there is no --server)",
    )
    .option("--context <name>", "kubeconfig context (default: its current-context)")
    .option(
      "--via <route>",
      "agent: the pods' node agents (default); exec: no agent needed — run tar, cat, stat... in the container through the API server's pods/exec with the kubeconfig's credentials, as kubectl cp does",
    )
    .option(
      shortNamespace ? "-n, --namespace <ns>" : "--namespace <ns>",
      "namespace for remote paths without one (default $PODFILES_NAMESPACE, else the kubeconfig context's, else default)",
    )
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
  /** the server, or "kubeconfig" */
  url: string;
  /** the kubeconfig context's namespace (paths without one use it when -n and $PODFILES_NAMESPACE are unset) */
  contextNamespace?: string;
  /** Closes the HTTP/2 connections so the process can exit. */
  close(): void;
}

export type ConnectionMode =
  | { kind: "server"; url: string }
  | { kind: "kubeconfig"; kubeconfig?: string; context?: string }
  | { kind: "exec"; kubeconfig?: string; context?: string };

export function connectionMode(o: ConnectionOptions): ConnectionMode {
  if (o.via !== undefined && o.via !== "agent" && o.via !== "exec") throw new UsageError(`--via ${o.via}: use agent or exec`);
  if (o.via === "exec") {
    if (o.server)
      throw new UsageError("--server and --via exec exclude each other (--via exec needs no server: it runs commands in the container through the API server)");
    if (o.kubeconfig && !existsSync(o.kubeconfig)) throw new UsageError(`--kubeconfig ${o.kubeconfig}: no such file`);
    return { kind: "exec", kubeconfig: o.kubeconfig, context: o.context };
  }
  const server = o.server || process.env.PODFILES_SERVER;
  if (server) {
    if (o.kubeconfig || o.context)
      throw new UsageError(
        `${o.server ? "--server" : "$PODFILES_SERVER"} and --kubeconfig/--context exclude each other (one goes to a server directly, the other through the API server)`,
      );
    return { kind: "server", url: serverUrl(o) };
  }
  if (o.kubeconfig || o.context || process.env.KUBECONFIG || existsSync(join(homedir(), ".kube", "config"))) {
    if (o.kubeconfig && !existsSync(o.kubeconfig)) throw new UsageError(`--kubeconfig ${o.kubeconfig}: no such file`);
    return { kind: "kubeconfig", kubeconfig: o.kubeconfig, context: o.context };
  }
  return { kind: "server", url: serverUrl(o) };
}

/** $PODFILES_TUNNEL_PROTOCOL: the pods/portforward protocol of kubeconfig tunnels (auto, websocket, spdy). */
export function tunnelProtocolOf(value: string | undefined): "auto" | "websocket" | "spdy" {
  if (value === undefined || value === "") return "auto";
  if (value === "auto" || value === "websocket" || value === "spdy") return value;
  throw new UsageError(`$PODFILES_TUNNEL_PROTOCOL=${value}: use auto, websocket or spdy`);
}

export async function connect(o: ConnectionOptions): Promise<Connection> {
  const mode = connectionMode(o);
  if (mode.kind === "server") {
    const client = createPodfilesClient({ baseUrl: mode.url, token: bearerToken(o) });
    return { client, url: mode.url, close: () => client.close() };
  }
  if (mode.kind === "exec") {
    const { startExecConnection } = await import("../exec-connection.js");
    const exec = await startExecConnection(mode);
    const client = createPodfilesClient({ baseUrl: exec.baseUrl, token: exec.token });
    return {
      client,
      url: "exec",
      contextNamespace: exec.contextNamespace,
      close: () => {
        client.close();
        void exec.close();
      },
    };
  }
  const tunnelProtocol = tunnelProtocolOf(process.env.PODFILES_TUNNEL_PROTOCOL);
  const { connectWithKubeconfig } = await import("../../client/kube-client.js");
  const client = await connectWithKubeconfig({ kubeconfig: mode.kubeconfig, context: mode.context, token: bearerToken(o), tunnelProtocol });
  return { client, url: "kubeconfig", contextNamespace: client.contextNamespace, close: () => client.close() };
}
