// `--via exec`: no agent needed at all, as kubectl cp. The CLI runs podfiles' own server inside
// its process, on an ephemeral loopback port, serving every container through pods/exec with the
// kubeconfig's own credentials (ExecFs, as `podfiles serve --exec`), and talks to it with the
// ordinary client, so every command (and every check: digests, atomic uploads) works unchanged.
// The port is open to other local users while the command runs, and what it serves acts with the
// user's credentials, so it accepts only a podfiles JWT signed with a random key that never leaves
// this process (HS256, 48 bytes from the CSPRNG as base64 text), valid for this process's lifetime only.
import { randomBytes } from "node:crypto";

/**
 * The HS256 secret of this process's server: 48 random bytes as base64 text. Raw random bytes were
 * used before, and parseKey trims a trailing newline or carriage return from a secret (as read from
 * a file), so 2 runs in 256 ended with "an HS256 secret must be at least 32 bytes (got 31)".
 */
export function ephemeralSecret(random: (n: number) => Buffer = randomBytes): Buffer {
  return Buffer.from(random(48).toString("base64"));
}

export interface ExecConnection {
  baseUrl: string;
  token: string;
  /** The kubeconfig context's namespace. */
  contextNamespace?: string;
  close(): Promise<void>;
}

export async function startExecConnection(o: { kubeconfig?: string; context?: string }): Promise<ExecConnection> {
  // loaded only for --via exec: the server and the Kubernetes client cost start-up time
  const [{ createAuth }, { parseKey }, { createServer }, { ExecResolver }, { KubePodSource, loadKubeConfig }, { jsonLogger }] = await Promise.all([
    import("../auth/index.js"),
    import("../auth/keys.js"),
    import("../server/server.js"),
    import("../resolve/exec-resolver.js"),
    import("../resolve/kube-pods.js"),
    import("../log.js"),
  ]);
  const kubeConfig = loadKubeConfig({ kubeconfig: o.kubeconfig, context: o.context });
  const key = parseKey("via-exec", ephemeralSecret(), "--via exec");
  // its call lines would mix with the command's own messages (a put's Stat answering NOT_FOUND is a
  // warning there): the client reports every failed call itself, so only server faults are printed
  const stderr = jsonLogger();
  const logger = { info: () => {}, warn: () => {}, error: stderr.error };
  const auth = createAuth({ jwt: { keys: [key] }, logger });
  const { token } = auth.jwt!.issue("podfiles-cli", { namespaces: ["*"], pods: [], verbs: ["*"] }, 24 * 3600);
  const server = await createServer({
    resolver: new ExecResolver({ kubeConfig, pods: new KubePodSource(kubeConfig) }),
    logger,
    interceptors: [auth.interceptor],
  }).listen(0, "127.0.0.1");
  const contextNamespace = kubeConfig.getContextObject(kubeConfig.getCurrentContext())?.namespace;
  return { baseUrl: server.url, token, contextNamespace, close: () => server.close() };
}
