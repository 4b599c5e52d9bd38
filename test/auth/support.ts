// Helpers for the auth suites: keys, a real server with auth, an AuthService
// client, and the stand-in API server (TokenReview + SubjectAccessReview).
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { AuthService } from "../../gen/ts/podfiles/v1/auth_pb.js";
import { createAuth, type AuthConfig } from "../../src/auth/index.js";
import { parseKey, type JwtKey } from "../../src/auth/keys.js";
import type { Logger } from "../../src/log.js";
import { startTestServer, type TestServer, type TestServerOptions } from "../support/server.js";

// base64 text, as `openssl rand -base64 48` makes: raw random bytes may end in 0x0a, which key files strip as a newline
export const hsSecret = () => randomBytes(48).toString("base64");
export const rsaPem = () => generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
export const ecPem = () => generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
export const key = (kid: string, data: string | Buffer): JwtKey => parseKey(kid, Buffer.from(data), kid);

export const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
export const basic = (name: string, password: string) => ({ headers: { authorization: `Basic ${Buffer.from(`${name}:${password}`).toString("base64")}` } });

export function tmpDir(): string {
  return mkdtempSync(join(tmpdir(), "podfiles-auth-"));
}

export function writeTmp(name: string, data: string | Buffer): string {
  const file = join(tmpDir(), name);
  writeFileSync(file, data);
  return file;
}

/** A logger that keeps its lines, for audit assertions. */
export function memoryLogger(): Logger & { lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const push = (level: string) => (f: Record<string, unknown>) => void lines.push({ level, ...f });
  return { lines, info: push("info"), warn: push("warn"), error: push("error") };
}

export interface AuthTestServer extends TestServer {
  auth: Client<typeof AuthService>;
  audit: Record<string, unknown>[];
}

export async function startAuthServer(config: AuthConfig, options: TestServerOptions = {}): Promise<AuthTestServer> {
  const logger = memoryLogger();
  const auth = createAuth({ logger, ...config });
  const server = await startTestServer({ ...options, interceptors: [auth.interceptor], registerExtra: auth.registerExtra });
  return {
    ...server,
    auth: createClient(AuthService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" })),
    get audit() {
      return logger.lines.filter((l) => l.msg === "audit");
    },
  } as AuthTestServer;
}

export interface StandInGrant {
  /** The user granted; or a group (the review's groups must include it). */
  user?: string;
  group?: string;
  namespace: string;
  verbs: string[];
  /** Pod names; empty = all pods of the namespace. */
  pods?: string[];
}

export interface StandInUser {
  username: string;
  groups?: string[];
  /** Audiences the token is valid for (default: the API server's, "https://kubernetes.default.svc"). */
  audiences?: string[];
}

/**
 * The stand-in API server: answers TokenReview and SubjectAccessReview the
 * way kube-apiserver does (audience check, RBAC-like grants on
 * containerfiles.podfiles.io), over plain HTTP, and counts the calls.
 */
export async function startStandInApiServer(o: {
  tokens: Record<string, StandInUser>;
  grants: StandInGrant[];
  agentToken?: string;
  /** Pods served by GET /api/v1/pods and /api/v1/namespaces/NS/pods (limit and continue as the API server pages them). */
  pods?: V1Pod[];
}) {
  const calls = { tokenReviews: 0, subjectAccessReviews: 0, unauthorized: 0, podLists: 0 };
  const reviews: Record<string, unknown>[] = [];
  const agentToken = o.agentToken ?? "agent-sa-token";
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const send = (code: number, body: unknown) => {
        res.writeHead(code, { "content-type": "application/json" });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${agentToken}`) {
        calls.unauthorized++;
        return send(401, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "Unauthorized", code: 401 });
      }
      const podList = /^\/api\/v1\/(?:namespaces\/([^/]+)\/)?pods(?:\?|$)/.exec(req.url ?? "");
      if (req.method === "GET" && podList) {
        calls.podLists++;
        const q = new URL(req.url!, "http://x").searchParams;
        const all = (o.pods ?? []).filter((p) => !podList[1] || p.metadata?.namespace === podList[1]);
        const from = Number(q.get("continue") || 0);
        const limit = Number(q.get("limit") || all.length) || all.length;
        const items = all.slice(from, from + limit);
        const next = from + limit < all.length ? String(from + limit) : undefined;
        return send(200, { kind: "PodList", apiVersion: "v1", metadata: next ? { continue: next } : {}, items });
      }
      const body = JSON.parse(Buffer.concat(chunks).toString() || "{}");
      reviews.push(body);
      if (req.method === "POST" && req.url?.startsWith("/apis/authentication.k8s.io/v1/tokenreviews")) {
        calls.tokenReviews++;
        const user = o.tokens[body.spec?.token];
        const tokenAud = user?.audiences ?? ["https://kubernetes.default.svc"];
        const wanted: string[] = body.spec?.audiences?.length ? body.spec.audiences : ["https://kubernetes.default.svc"];
        const audiences = tokenAud.filter((a) => wanted.includes(a));
        const ok = !!user && audiences.length > 0;
        return send(201, {
          ...body,
          status: ok
            ? {
                authenticated: true,
                user: { username: user.username, uid: `uid-${user.username}`, groups: user.groups ?? ["system:authenticated"] },
                audiences,
              }
            : { authenticated: false, error: user ? "token audiences are invalid for the target audiences" : "invalid bearer token" },
        });
      }
      if (req.method === "POST" && req.url?.startsWith("/apis/authorization.k8s.io/v1/subjectaccessreviews")) {
        calls.subjectAccessReviews++;
        const s = body.spec ?? {};
        const ra = s.resourceAttributes ?? {};
        const allowed =
          ra.group === "podfiles.io" &&
          ra.resource === "containerfiles" &&
          o.grants.some(
            (g) =>
              (g.user !== undefined ? g.user === s.user : (s.groups ?? []).includes(g.group)) &&
              g.namespace === ra.namespace &&
              g.verbs.includes(ra.verb) &&
              (!g.pods?.length || g.pods.includes(ra.name)),
          );
        return send(201, { ...body, status: allowed ? { allowed: true, reason: "RBAC: allowed by stand-in grant" } : { allowed: false } });
      }
      send(404, { kind: "Status", code: 404 });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: "stand-in", server: url, skipTLSVerify: true }],
    users: [{ name: "podfiles", token: agentToken }],
    contexts: [{ name: "stand-in", cluster: "stand-in", user: "podfiles" }],
    currentContext: "stand-in",
  });
  return {
    url,
    calls,
    reviews,
    kubeConfig,
    grants: o.grants,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A plain HTTP/1.1 request on its own connection (no keep-alive), for CORS and health probes. */
export function rawRequest(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method, headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(init.body);
  });
}
