// A kubeconfig read as kubectl reads it, without @kubernetes/client-node on the common paths: loading
// client-node costs a CLI command ~1.2 s of CPU (measured here: `await import` of its index, 1,181 ms
// CPU, 2.7 s wall on the busy 2-core machine), more than a 256 MiB download through the tunnel.
// Covered here: $KUBECONFIG (several files, the first to define a name wins) or ~/.kube/config, the
// context, the cluster's server, CA and TLS options, and the user's client certificate, token,
// tokenFile or exec plugin (client.authentication.k8s.io ExecCredential, cached until it expires).
// A user with an `auth-provider` (OIDC and the old cloud providers) is handed to client-node.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, isAbsolute, join } from "node:path";
import { load } from "js-yaml";
import { Code, PodfilesError, failedPrecondition, invalidArgument } from "./errors.js";

interface Named {
  name: string;
  cluster?: unknown;
  user?: unknown;
  context?: unknown;
}

export interface KubeconfigCluster {
  server: string;
  "certificate-authority"?: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "tls-server-name"?: string;
}

export interface ExecConfig {
  apiVersion?: string;
  command: string;
  args?: string[];
  env?: { name: string; value: string }[];
  installHint?: string;
}

export interface KubeconfigUser {
  "client-certificate"?: string;
  "client-certificate-data"?: string;
  "client-key"?: string;
  "client-key-data"?: string;
  token?: string;
  tokenFile?: string;
  exec?: ExecConfig;
  "auth-provider"?: unknown;
  username?: string;
}

/** TLS options and the Authorization header for the API server, and what the user presents. */
export interface KubeCredentials {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  rejectUnauthorized: boolean;
  servername?: string;
  /** "Bearer …" */
  authorization?: string;
}

export interface LoadedKubeconfig {
  server: URL;
  contextName: string;
  namespace?: string;
  /** the credentials now (exec tokens fetched or refreshed as needed) */
  credentials(): Promise<KubeCredentials>;
}

type Raw = Record<string, unknown>;

function files(explicit?: string): string[] {
  if (explicit) return [explicit];
  const env = process.env.KUBECONFIG;
  if (env) return env.split(delimiter).filter((f) => f && existsSync(f));
  const home = join(homedir(), ".kube", "config");
  return existsSync(home) ? [home] : [];
}

/** Paths in a kubeconfig are relative to the file that names them. */
function absolutize<T extends object>(o: T | undefined, dir: string, keys: string[]): T | undefined {
  if (!o) return o;
  const out: Raw = { ...(o as Raw) };
  for (const k of keys) if (typeof out[k] === "string" && out[k] && !isAbsolute(out[k] as string)) out[k] = join(dir, out[k] as string);
  return out as T;
}

export function loadKubeconfig(o: { kubeconfig?: string; context?: string } = {}): LoadedKubeconfig | "auth-provider" {
  const paths = files(o.kubeconfig);
  if (paths.length === 0) {
    const inCluster = inClusterConfig();
    if (inCluster) return inCluster;
    throw invalidArgument("no kubeconfig: pass --kubeconfig, set $KUBECONFIG or create ~/.kube/config");
  }
  const clusters = new Map<string, KubeconfigCluster>();
  const users = new Map<string, KubeconfigUser>();
  const contexts = new Map<string, { cluster: string; user: string; namespace?: string }>();
  let current: string | undefined;
  for (const file of paths) {
    let doc: Raw;
    try {
      doc = (load(readFileSync(file, "utf8")) ?? {}) as Raw;
    } catch (err) {
      throw invalidArgument(`kubeconfig ${file}: ${(err as Error).message}`);
    }
    const dir = dirname(file);
    for (const c of (doc.clusters ?? []) as Named[])
      if (c?.name && !clusters.has(c.name)) clusters.set(c.name, absolutize(c.cluster as KubeconfigCluster, dir, ["certificate-authority"])!);
    for (const u of (doc.users ?? []) as Named[])
      if (u?.name && !users.has(u.name)) users.set(u.name, absolutize(u.user as KubeconfigUser, dir, ["client-certificate", "client-key", "tokenFile"]) ?? {});
    for (const c of (doc.contexts ?? []) as Named[]) if (c?.name && !contexts.has(c.name)) contexts.set(c.name, c.context as never);
    current ??= (doc["current-context"] as string | undefined) || undefined;
  }
  const contextName = o.context ?? current;
  if (!contextName) throw invalidArgument(`kubeconfig ${paths.join(delimiter)}: no current-context (pass --context)`);
  const ctx = contexts.get(contextName);
  if (!ctx) throw invalidArgument(`kubeconfig has no context ${contextName}`);
  const cluster = clusters.get(ctx.cluster);
  if (!cluster?.server) throw failedPrecondition(`kubeconfig context ${contextName}: no cluster ${ctx.cluster} with a server`);
  const user = users.get(ctx.user) ?? {};
  if (user["auth-provider"]) return "auth-provider";
  const fileOrData = (file?: string, data?: string) => (data ? Buffer.from(data, "base64") : file ? readFileSync(file) : undefined);
  const ca = fileOrData(cluster["certificate-authority"], cluster["certificate-authority-data"]);
  const staticCert = fileOrData(user["client-certificate"], user["client-certificate-data"]);
  const staticKey = fileOrData(user["client-key"], user["client-key-data"]);
  const base = { ca, rejectUnauthorized: !cluster["insecure-skip-tls-verify"], servername: cluster["tls-server-name"] };
  let execCache: { token?: string; cert?: Buffer; key?: Buffer; expires: number } | undefined;

  return {
    server: new URL(cluster.server),
    contextName,
    namespace: ctx.namespace || undefined,
    async credentials(): Promise<KubeCredentials> {
      if (user.exec) {
        if (!execCache || Date.now() >= execCache.expires) execCache = await runExec(user.exec, cluster);
        return {
          ...base,
          cert: execCache.cert ?? staticCert,
          key: execCache.key ?? staticKey,
          authorization: execCache.token ? `Bearer ${execCache.token}` : undefined,
        };
      }
      // a tokenFile is re-read each time: it is rotated under a running process (projected tokens)
      const token = user.tokenFile ? readFileSync(user.tokenFile, "utf8").trim() : user.token;
      return { ...base, cert: staticCert, key: staticKey, authorization: token ? `Bearer ${token}` : undefined };
    },
  };
}

/** Runs an exec credential plugin (client.authentication.k8s.io/v1 or v1beta1). */
function runExec(exec: ExecConfig, cluster: KubeconfigCluster): Promise<{ token?: string; cert?: Buffer; key?: Buffer; expires: number }> {
  const apiVersion = exec.apiVersion ?? "client.authentication.k8s.io/v1";
  const info = { apiVersion, kind: "ExecCredential", spec: { interactive: false, cluster: { server: cluster.server } } };
  const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) };
  for (const e of exec.env ?? []) env[e.name] = e.value;
  return new Promise((resolve, reject) => {
    execFile(exec.command, exec.args ?? [], { env, timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const hint = (err as NodeJS.ErrnoException).code === "ENOENT" && exec.installHint ? ` (${exec.installHint.trim()})` : "";
        return reject(new PodfilesError(`kubeconfig exec plugin ${exec.command}: ${stderr.trim() || err.message}${hint}`, Code.Unauthenticated));
      }
      try {
        const status =
          (JSON.parse(stdout) as { status?: { token?: string; clientCertificateData?: string; clientKeyData?: string; expirationTimestamp?: string } })
            .status ?? {};
        const expires = status.expirationTimestamp ? Date.parse(status.expirationTimestamp) - 10_000 : Number.POSITIVE_INFINITY;
        resolve({
          token: status.token,
          cert: status.clientCertificateData ? Buffer.from(status.clientCertificateData) : undefined,
          key: status.clientKeyData ? Buffer.from(status.clientKeyData) : undefined,
          expires,
        });
      } catch (e) {
        reject(new PodfilesError(`kubeconfig exec plugin ${exec.command}: not an ExecCredential (${(e as Error).message})`, Code.Unauthenticated));
      }
    });
  });
}

/** Inside a pod with no kubeconfig: the ServiceAccount's token and CA, as client-go's rest.InClusterConfig. */
function inClusterConfig(): LoadedKubeconfig | undefined {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  if (!host || !existsSync(`${dir}/token`)) return undefined;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  const ca = existsSync(`${dir}/ca.crt`) ? readFileSync(`${dir}/ca.crt`) : undefined;
  const namespace = existsSync(`${dir}/namespace`) ? readFileSync(`${dir}/namespace`, "utf8").trim() : undefined;
  return {
    server: new URL(`https://${host.includes(":") ? `[${host}]` : host}:${port}`),
    contextName: "in-cluster",
    namespace,
    credentials: async () => ({ ca, rejectUnauthorized: true, authorization: `Bearer ${readFileSync(`${dir}/token`, "utf8").trim()}` }),
  };
}
