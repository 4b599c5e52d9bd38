// `podfiles serve`: one local directory served as a container (the embedded demo), or with --cri
// the containers of a local runtime (serve-cri.ts). Complete (commander fills the defaults) →
// Validate (into a resolved type) → Run, as kubectl's commands do.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { jsonLogger } from "../../log.js";
import { LocalResolver } from "../../resolve/local-resolver.js";
import type { ContainerName } from "../../resolve/resolver.js";
import { createServer } from "../../server/server.js";
import { addAuthOptions, buildAuth, clientCaNeedsKubernetes, kubernetesAuth, loadKubeReviews, type AuthFlags } from "../auth-options.js";
import { closeOnSignal } from "../close-on-signal.js";
import { addConnectionOptions, connectionLimits, type ConnectionFlags } from "../connection-options.js";
import { addListenOptions, readClientCa, serverTls, validateListen, type ListenFlags, type ResolvedListen } from "../listen-options.js";
import { runServeCri, validateServeCri, type ResolvedServeCri } from "./serve-cri.js";
import { addKubeletOptions } from "../kubelet-options.js";
import { runServeExec, validateServeExec, type ResolvedServeExec } from "./serve-exec.js";

export interface ServeOptions extends AuthFlags, ConnectionFlags, ListenFlags {
  root: string;
  namespace: string;
  pod: string;
  container: string;
  /** Local containers mode: serve the containers of this CRI socket instead of --root. */
  cri?: string;
  procRoot?: string;
  /** Every container of the cluster through pods/exec (ExecFs) instead of --root. */
  exec?: boolean;
  kubeconfig?: string;
  context?: string;
  /** Uploads keep setuid/setgid bits (default: dropped on every upload path). */
  allowSetid?: boolean;
  /** With --exec: reads straight to the kubelets. */
  execReadsViaKubelet?: boolean;
  kubeletPort?: string;
  kubeletCertificateAuthority?: string;
}

export interface ResolvedServeRoot {
  mode: "root";
  /** Absolute. */
  root: string;
  name: ContainerName;
  listen: ResolvedListen;
  allowSetid: boolean;
}

export type ResolvedServe = ResolvedServeRoot | ResolvedServeCri | ResolvedServeExec;

export function validateServe(o: ServeOptions): ResolvedServe {
  if (o.cri && o.exec) throw new Error("--cri and --exec exclude each other");
  if (o.cri) return validateServeCri({ ...o, cri: o.cri });
  if (o.exec) return validateServeExec(o);
  if (o.execReadsViaKubelet) throw new Error("--exec-reads-via-kubelet needs --exec");
  let st;
  try {
    st = statSync(o.root);
  } catch {
    throw new Error(`--root ${o.root}: no such directory`);
  }
  if (!st.isDirectory()) throw new Error(`--root ${o.root}: not a directory`);
  const listen = validateListen(o);
  if (listen.clientCaFile && listen.clientCaFile !== "none" && !kubernetesAuth(o)) throw new Error(clientCaNeedsKubernetes);
  return {
    mode: "root",
    root: resolve(o.root),
    name: { namespace: o.namespace, pod: o.pod, container: o.container },
    listen,
    allowSetid: o.allowSetid ?? false,
  };
}

/** `flags`: the options as given (auth and connection flags); `r`: what Validate resolved. */
export async function runServe(flags: ServeOptions, r: ResolvedServe) {
  if (r.mode === "cri") {
    // --cri has no auth of its own: it stays loopback-only (or explicitly anonymous)
    if (flags.auth && flags.auth !== "none") throw new Error("--auth is not supported with --cri");
    const auth = buildAuth(flags, { host: r.listen.host, logger: jsonLogger() });
    return runServeCri(r, { ...auth.server, connections: connectionLimits(flags) });
  }
  if (r.mode === "exec") {
    const logger = jsonLogger();
    const auth = buildAuth(flags, { host: r.listen.host, logger, kubeReviews: await loadKubeReviews(flags) });
    return runServeExec(r, { ...auth.server, connections: connectionLimits(flags) });
  }
  const { root, name, listen } = r;
  const resolver = new LocalResolver({ root, name });
  const logger = jsonLogger();
  const clientCa = listen.clientCaFile && listen.clientCaFile !== "none" ? readClientCa(listen.clientCaFile) : undefined;
  const auth = buildAuth(flags, { host: listen.host, logger, kubeReviews: await loadKubeReviews(flags), clientCertificates: clientCa !== undefined });
  const { tls } = await serverTls(listen, clientCa);
  const server = await createServer({
    resolver,
    logger,
    tls,
    ...auth.server,
    connections: connectionLimits(flags),
    uploads: { allowSetid: r.allowSetid },
  }).listen(listen.port, listen.host);
  const container = `${name.namespace}/${name.pod}/${name.container}`;
  logger.info({
    msg: "listening",
    auth: auth.summary,
    connections: server.limits,
    url: server.url,
    port: server.port,
    root,
    container,
    confinement: resolver.fs.strategy,
    allowSetid: r.allowSetid,
  });
  // temp files of uploads a killed server left behind (the walk is bounded and runs in the background)
  void resolver.fs.removeStaleTempFiles().then(
    (res) => res.removed > 0 && logger.info({ msg: "removed temp files of interrupted uploads", ...res }),
    (err: unknown) => logger.warn({ msg: "could not sweep temp files of interrupted uploads", error: err instanceof Error ? err.message : String(err) }),
  );
  const ref = `"container":{"namespace":"${name.namespace}","pod":"${name.pod}","container":"${name.container}"}`;
  process.stdout.write(
    [
      `podfiles is serving ${root} as the container ${container} on ${server.url}`,
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
  const cmd = addConnectionOptions(addAuthOptions(program.command("serve")))
    .description("serve one local directory as a container (the local demo)")
    .option("--root <dir>", "directory to serve as the container's /", ".");
  addListenOptions(cmd, {
    hostHelp: "address to listen on",
    tls: true,
    clientCaHelp:
      "PEM CA bundle: TLS client certificates it signed are Kubernetes users (CN) and groups (O), authorized by SubjectAccessReview (needs --auth kubernetes; without --tls-cert a self-signed serving certificate is made at start)",
  })
    .option("--namespace <name>", "namespace the directory answers to", "local")
    .option("--pod <name>", "pod name it answers to", "local")
    .option("--container <name>", "container name it answers to", "local")
    .option(
      "--cri <socket>",
      "local containers mode: serve the containers of this CRI socket as <sandbox namespace>/<sandbox name>/<container name> (needs root)",
    )
    .option("--proc-root <dir>", "with --cri: the host's /proc", "/proc")
    .option("--exec", "serve every container of a cluster through the API server's pods/exec (no agent needed; the image's own tools do the work)")
    .option("--kubeconfig <file>", "with --exec: kubeconfig (default: $KUBECONFIG, ~/.kube/config, else in-cluster)")
    .option("--context <name>", "with --exec: kubeconfig context");
  addKubeletOptions(cmd, "with --exec")
    .option("--allow-setid", "uploads keep setuid/setgid bits (default: dropped on every upload path)")
    .action(async (opts: ServeOptions) => {
      await runServe(opts, validateServe(opts));
    });
}
