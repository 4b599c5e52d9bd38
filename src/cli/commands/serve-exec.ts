// `podfiles serve --exec`: every container of a cluster through the API server's pods/exec
// (ExecFs), with the kubeconfig's credentials; for pods on nodes without an agent, and to compare
// with the agent. Containers are <namespace>/<pod>/<container> as for the agent.
import { existsSync } from "node:fs";
import { jsonLogger } from "../../log.js";
import { createServer, type ServerOptions } from "../../server/server.js";
import { closeOnSignal } from "../close-on-signal.js";
import type { KubeletAccess } from "../../resolve/exec-resolver.js";
import { kubeletAccess, type KubeletFlags } from "../kubelet-options.js";
import { readTls, validateListen, type ListenFlags, type ResolvedListen } from "../listen-options.js";

export interface ServeExecOptions extends ListenFlags, KubeletFlags {
  kubeconfig?: string;
  context?: string;
  allowSetid?: boolean;
}

export interface ResolvedServeExec {
  mode: "exec";
  kubeconfig?: string;
  context?: string;
  listen: ResolvedListen;
  allowSetid: boolean;
  kubelet?: KubeletAccess;
}

export function validateServeExec(o: ServeExecOptions): ResolvedServeExec {
  if (o.kubeconfig && !existsSync(o.kubeconfig)) throw new Error(`--kubeconfig ${o.kubeconfig}: no such file`);
  const kubelet = kubeletAccess(o);
  return { mode: "exec", kubeconfig: o.kubeconfig, context: o.context, listen: validateListen(o), allowSetid: o.allowSetid ?? false, kubelet };
}

/** `flags`: what the CLI built from its auth and connection flags. */
export async function runServeExec(o: ResolvedServeExec, flags: Omit<ServerOptions, "resolver" | "logger" | "tls"> = {}) {
  const logger = jsonLogger();
  // loaded here, not at the top: every `podfiles serve` imports this file, and the Kubernetes client
  // costs start-up time and file descriptors (a `serve --root` under a low fd limit ran out of them)
  const { ExecResolver } = await import("../../resolve/exec-resolver.js");
  const { KubePodSource, loadKubeConfig } = await import("../../resolve/kube-pods.js");
  const kubeConfig = loadKubeConfig({ kubeconfig: o.kubeconfig, context: o.context });
  const resolver = new ExecResolver({ kubeConfig, pods: new KubePodSource(kubeConfig), kubelet: o.kubelet });
  const server = await createServer({ ...flags, resolver, logger, tls: readTls(o.listen), uploads: { allowSetid: o.allowSetid } }).listen(
    o.listen.port,
    o.listen.host,
  );
  const apiServer = kubeConfig.getCurrentCluster()?.server;
  logger.info({
    msg: "listening",
    url: server.url,
    port: server.port,
    connections: server.limits,
    via: o.kubelet ? "exec (reads via the kubelets)" : "exec",
    apiServer,
  });
  process.stdout.write(
    [
      `podfiles is serving the containers of ${apiServer} through pods/exec on ${server.url}`,
      `  grpcurl -plaintext -d '{"container":{"namespace":"NS","pod":"POD"},"path":"/"}' ${server.host}:${server.port} podfiles.v1.FileService/ListFiles`,
      "",
    ].join("\n"),
  );
  closeOnSignal(server);
  return server;
}
