// The auth flags of `podfiles serve` (and any command that serves files):
// addAuthOptions() declares them, buildAuth() turns them into the server's
// interceptor, AuthService and CORS options, or refuses to start.
import { isIP } from "node:net";
import type { Command } from "commander";
import { loadClients } from "../auth/clients.js";
import { parseOrigins } from "../server/cors.js";
import { hostCheck, parseAllowedHosts } from "../auth/host-check.js";
import { createAuth, type Auth, type AuthConfig } from "../auth/index.js";
import { loadKey } from "../auth/keys.js";
import type { KubeReviews } from "../auth/kubernetes.js";
import type { Logger } from "../log.js";
import type { ServerOptions } from "../server/server.js";
import { AuthService } from "../../gen/ts/podfiles/v1/auth_pb.js";

export interface AuthFlags {
  auth?: string;
  tokenAudience?: string[];
  tokenCacheSeconds?: number;
  tokenCacheSize?: number;
  authzCacheSeconds?: number;
  jwtKey?: string[];
  jwtIssuer?: string;
  jwtAudience?: string;
  jwtTtl?: number;
  jwtMaxTtl?: number;
  authClients?: string;
  corsOrigin?: string[];
  publicOrigin?: string[];
  allowedHost?: string[];
  insecureAllowAnonymous?: boolean;
  /** Set by commands that have their own --kubeconfig (e.g. agent). */
  kubeconfig?: string;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} ${v}: not a non-negative integer`);
  return n;
};

export function addAuthOptions(cmd: Command): Command {
  return cmd
    .option("--auth <modes>", "authentication: none, kubernetes (TokenReview + SubjectAccessReview), jwt (podfiles tokens), or kubernetes,jwt", "none")
    .option("--token-audience <aud>", "kubernetes: audience the bearer tokens must be valid for (repeatable; default: the API server's)", collect)
    .option("--token-cache-seconds <n>", "kubernetes: keep TokenReview results this long", int("--token-cache-seconds"), 10)
    .option("--token-cache-size <n>", "kubernetes: keep at most this many TokenReview results", int("--token-cache-size"), 1000)
    .option("--authz-cache-seconds <n>", "kubernetes: keep SubjectAccessReview decisions this long", int("--authz-cache-seconds"), 10)
    .option("--jwt-key <[kid=]file>", "jwt: key file (HS256 secret, RSA or EC P-256 PEM; repeatable; the first signs, the rest only verify)", collect)
    .option("--jwt-issuer <iss>", "jwt: token issuer (iss)", "podfiles")
    .option("--jwt-audience <aud>", "jwt: token audience (aud)", "podfiles")
    .option("--jwt-ttl <seconds>", "jwt: lifetime of issued tokens", int("--jwt-ttl"), 1800)
    .option("--jwt-max-ttl <seconds>", "jwt: longest lifetime a client may ask for", int("--jwt-max-ttl"), 3600)
    .option("--auth-clients <file>", "jwt: clients file for AuthService.IssueToken (Basic credentials, scrypt hashes, scopes)")
    .option("--cors-origin <origin>", "browser origin allowed besides same-origin (repeatable; * = any)", collect)
    .option(
      "--public-origin <url>",
      "this server's own origin as browsers reach it, e.g. https://files.example.com (repeatable; default: http(s)://127.0.0.1|localhost|[::1]:PORT); the same-origin of CORS, and its host is served without auth",
      collect,
    )
    .option(
      "--allowed-host <names>",
      "without auth: a Host name served besides localhost, *.localhost and IP addresses (repeatable or comma-separated; a guard against DNS rebinding)",
      collect,
    )
    .option("--insecure-allow-anonymous", "DANGEROUS: serve without authentication on a non-loopback --host; anyone who can connect reads and writes files");
}

export const clientCaNeedsKubernetes =
  "--client-ca-file needs --auth kubernetes: a certificate's user (CN) and groups (O) are authorized by SubjectAccessReview";

/** True when --auth names kubernetes. */
export const kubernetesAuth = (f: AuthFlags): boolean => (f.auth ?? "").split(",").some((m) => m.trim() === "kubernetes");

export function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  const v4 = host.startsWith("::ffff:") ? host.slice(7) : host;
  return isIP(v4) === 4 && v4.startsWith("127.");
}

export interface BuiltAuth {
  /** Spread into createServer(). */
  server: Pick<ServerOptions, "interceptors" | "registerExtra" | "extraServices" | "cors">;
  anonymous: boolean;
  summary: string;
  /** The forward route's authenticateCaller: authenticates as the interceptor does (throws UNAUTHENTICATED), and names the identity to assert for a certificate caller; absent without auth. */
  authenticate?: Auth["authenticateCaller"];
}

/** Validates the flags against the listen address and builds the auth layer; throws a message for the user. */
export function buildAuth(f: AuthFlags, ctx: { host: string; logger: Logger; kubeReviews?: KubeReviews; clientCertificates?: boolean }): BuiltAuth {
  const modes = new Set(
    (f.auth ?? "none")
      .split(",")
      .map((m) => m.trim())
      .filter(Boolean),
  );
  for (const m of modes) if (!["none", "kubernetes", "jwt"].includes(m)) throw new Error(`--auth ${f.auth}: unknown mode "${m}" (none, kubernetes, jwt)`);
  if (modes.has("none") && modes.size > 1) throw new Error(`--auth ${f.auth}: "none" cannot be combined`);
  if (ctx.clientCertificates && !modes.has("kubernetes")) throw new Error(clientCaNeedsKubernetes);
  const publicOrigins = f.publicOrigin?.length ? parseOrigins(f.publicOrigin, "--public-origin") : undefined;
  const cors = { allowedOrigins: f.corsOrigin ?? [], ...(publicOrigins ? { publicOrigins } : {}) };
  const allowedHosts = parseAllowedHosts(f.allowedHost ?? []);

  if (modes.has("none")) {
    const jwtFlags = [f.jwtKey?.length && "--jwt-key", f.authClients && "--auth-clients", f.tokenAudience?.length && "--token-audience"].filter(Boolean);
    if (jwtFlags.length) throw new Error(`${jwtFlags.join(", ")} given but --auth is none; add --auth jwt and/or --auth kubernetes`);
    if (!isLoopback(ctx.host) && !f.insecureAllowAnonymous) {
      throw new Error(
        `--host ${ctx.host}: refusing to serve files without authentication on a non-loopback address (reading and writing container files is as powerful as exec). ` +
          "Use --auth kubernetes and/or --auth jwt --jwt-key <file>, listen on 127.0.0.1, or, knowingly, add --insecure-allow-anonymous.",
      );
    }
    if (!isLoopback(ctx.host))
      ctx.logger.warn({ msg: "INSECURE: --insecure-allow-anonymous: serving files WITHOUT AUTHENTICATION to anyone who can connect", host: ctx.host });
    // Without credentials to check, the Host tells a local caller from a rebound web page.
    const served = [...allowedHosts, ...(publicOrigins ?? []).map((o) => new URL(o).hostname)];
    return { server: { cors, interceptors: [hostCheck(served)] }, anonymous: true, summary: "none (anonymous)" };
  }

  const config: AuthConfig = { logger: ctx.logger };
  if (modes.has("kubernetes")) {
    if (!ctx.kubeReviews) throw new Error("--auth kubernetes: no Kubernetes API client (load one with loadKubeReviews first)");
    config.kubernetes = {
      reviews: ctx.kubeReviews,
      audiences: f.tokenAudience ?? [],
      tokenCacheSeconds: f.tokenCacheSeconds,
      tokenCacheSize: f.tokenCacheSize,
      authzCacheSeconds: f.authzCacheSeconds,
      clientCertificates: ctx.clientCertificates === true,
    };
  }
  if (modes.has("jwt")) {
    if (!f.jwtKey?.length)
      throw new Error("--auth jwt needs a key: --jwt-key <file> (an HS256 secret of >= 32 bytes, or an RSA / EC P-256 private key); there is no built-in key");
    config.jwt = {
      keys: f.jwtKey.map(loadKey),
      issuer: f.jwtIssuer,
      audience: f.jwtAudience,
      defaultTtlSeconds: f.jwtTtl,
      maxTtlSeconds: f.jwtMaxTtl,
      clients: f.authClients ? loadClients(f.authClients) : undefined,
    };
  } else if (f.jwtKey?.length || f.authClients) {
    throw new Error("--jwt-key / --auth-clients given without --auth jwt");
  }
  const auth = createAuth(config);
  return {
    server: { interceptors: [auth.interceptor], registerExtra: auth.registerExtra, extraServices: [AuthService], cors },
    anonymous: false,
    summary: auth.summary,
    authenticate: auth.authenticateCaller,
  };
}

/**
 * The Kubernetes review client for --auth kubernetes, or undefined without it.
 * Loaded on demand: @kubernetes/client-node costs ~0.5 s and ~100 MiB of RSS
 * at import, which `serve` on a local directory should not pay.
 */
export async function loadKubeReviews(f: AuthFlags & { context?: string }): Promise<KubeReviews | undefined> {
  if (!kubernetesAuth(f)) return undefined;
  const { kubeReviews, defaultKubeConfig } = await import("../auth/kube-client.js");
  const kc = defaultKubeConfig(f.kubeconfig);
  if (f.context) kc.setCurrentContext(f.context);
  return kubeReviews(kc);
}

/**
 * The API server's client CA for TLS client certificates (the agent's default for
 * --client-ca-file), or the reason it could not be read.
 */
export async function loadClusterClientCa(f: AuthFlags & { context?: string }): Promise<{ pem: string } | { reason: string }> {
  const { clusterClientCa, defaultKubeConfig } = await import("../auth/kube-client.js");
  const kc = defaultKubeConfig(f.kubeconfig);
  if (f.context) kc.setCurrentContext(f.context);
  return clusterClientCa(kc);
}
