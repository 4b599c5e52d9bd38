// Basic-login back-off (per client, per source address) and CORS preflight
// on a real server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseClients } from "../../src/auth/clients.js";
import { hashPassword } from "../../src/auth/passwords.js";
import { ALLOWED_HEADERS, EXPOSED_HEADERS } from "../../src/server/cors.js";
import { basic, hsSecret, key, rawRequest, startAuthServer, type AuthTestServer } from "./support.js";

async function code(p: Promise<unknown>): Promise<Code | "ok"> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}
const hdr = (r: { headers: Record<string, string | string[] | undefined> }, name: string) => (r.headers[name] as string | undefined) ?? null;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Basic back-off", () => {
  let s: AuthTestServer;
  beforeAll(async () => {
    const hash = await hashPassword("right-password", { ln: 10, r: 8, p: 1 });
    const clients = parseClients(
      JSON.stringify({ clients: ["a", "b", "c", "d"].map((name) => ({ name, passwordHash: hash, scope: { namespaces: ["*"], verbs: ["get"] } })) }),
      "test",
    );
    // 2 free failures, then 400 ms, 800 ms, …; the address allows 5 before it backs off
    s = await startAuthServer({ jwt: { keys: [key("k", hsSecret())], clients }, backoff: { freeFailures: 2, baseMs: 400, maxMs: 2000, forgetMs: 1000 } });
  });
  afterAll(() => s?.close());

  it("per client: after repeated failures even the right password is refused (RESOURCE_EXHAUSTED) until the lock-out ends", async () => {
    expect(await code(s.auth.issueToken({}, basic("a", "wrong")))).toBe(Code.Unauthenticated);
    expect(await code(s.auth.issueToken({}, basic("a", "wrong")))).toBe(Code.Unauthenticated);
    expect(await code(s.auth.issueToken({}, basic("a", "wrong")))).toBe(Code.Unauthenticated); // third: locks for 400 ms
    const t0 = Date.now();
    let err: ConnectError | undefined;
    try {
      await s.auth.issueToken({}, basic("a", "right-password"));
    } catch (e) {
      err = ConnectError.from(e);
    }
    expect(err?.code).toBe(Code.ResourceExhausted);
    expect(err?.rawMessage).toMatch(/too many failed logins for client "a" or from 127\.0\.0\.1: retry in 1 s/);
    await sleep(Math.max(0, 450 - (Date.now() - t0)));
    expect(await code(s.auth.issueToken({}, basic("a", "right-password")))).toBe("ok");
    expect(s.audit).toContainEqual(
      expect.objectContaining({ who: "jwt:a", method: "podfiles.v1.AuthService/IssueToken", result: "denied", code: "ResourceExhausted", peer: "127.0.0.1" }),
    );
  });

  it("per source address: failures spread over client names lock the address out for every client", async () => {
    await sleep(2100); // let the address entry from the previous test run out
    for (const name of ["b", "c", "ghost"]) expect(await code(s.auth.issueToken({}, basic(name, "wrong")))).toBe(Code.Unauthenticated);
    // "d" never failed, but the address did three times
    expect(await code(s.auth.issueToken({}, basic("d", "right-password")))).toBe(Code.ResourceExhausted);
    await sleep(450);
    expect(await code(s.auth.issueToken({}, basic("d", "right-password")))).toBe("ok");
  });
});

describe("CORS", () => {
  let s: AuthTestServer;
  beforeAll(async () => {
    s = await startAuthServer({ jwt: { keys: [key("k", hsSecret())] } }, { cors: { allowedOrigins: ["https://files.example.com"] } });
  });
  afterAll(() => s?.close());

  const preflight = (origin: string, path = "/podfiles.v1.FileService/Stat") =>
    rawRequest(`${s.url}${path}`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "content-type,connect-protocol-version,authorization" },
    });

  it("preflight from an allowed origin: 204 with the Connect/gRPC-Web methods and headers (and Authorization)", async () => {
    const res = await preflight("https://files.example.com");
    expect(res.status).toBe(204);
    expect(hdr(res, "access-control-allow-origin")).toBe("https://files.example.com");
    expect(hdr(res, "access-control-allow-methods")).toBe("POST, GET");
    const allowed = hdr(res, "access-control-allow-headers")!.split(", ");
    expect(allowed).toEqual(
      expect.arrayContaining(["Content-Type", "Connect-Protocol-Version", "Connect-Timeout-Ms", "X-Grpc-Web", "X-User-Agent", "Grpc-Timeout", "Authorization"]),
    );
    expect(allowed).toEqual(ALLOWED_HEADERS);
    expect(hdr(res, "access-control-allow-credentials")).toBeNull();
    expect(hdr(res, "vary")).toBe("Origin");
  });

  it("preflight from a refused origin: 403 without CORS headers; the actual request is refused too", async () => {
    const res = await preflight("https://evil.example.net");
    expect(res.status).toBe(403);
    expect(hdr(res, "access-control-allow-origin")).toBeNull();
    const post = await rawRequest(`${s.url}/podfiles.v1.FileService/Stat`, {
      method: "POST",
      headers: { origin: "https://evil.example.net", "content-type": "application/json" },
      body: "{}",
    });
    expect(post.status).toBe(403);
  });

  it("an actual request from an allowed origin exposes grpc-status, grpc-message and the Connect headers", async () => {
    const res = await rawRequest(`${s.url}/podfiles.v1.FileService/Stat`, {
      method: "POST",
      headers: { origin: "https://files.example.com", "content-type": "application/json" },
      body: JSON.stringify({ container: s.container, path: "/" }),
    });
    expect(res.status).toBe(401); // no token: unauthenticated, but readable by the page
    expect(hdr(res, "access-control-allow-origin")).toBe("https://files.example.com");
    expect(hdr(res, "access-control-expose-headers")!.split(", ")).toEqual(EXPOSED_HEADERS);
    expect(EXPOSED_HEADERS).toEqual(expect.arrayContaining(["Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"]));
    expect((JSON.parse(res.body) as { code: string }).code).toBe("unauthenticated");
  });

  it("default: same-origin only (the server's own loopback origin passes; others are refused)", async () => {
    const d = await startAuthServer({ jwt: { keys: [key("k", hsSecret())] } });
    try {
      const same = await rawRequest(`${d.url}/podfiles.v1.FileService/Stat`, {
        method: "OPTIONS",
        headers: { origin: d.url, "access-control-request-method": "POST" },
      });
      expect(same.status).toBe(204);
      const other = await rawRequest(`${d.url}/podfiles.v1.FileService/Stat`, {
        method: "OPTIONS",
        headers: { origin: "https://files.example.com", "access-control-request-method": "POST" },
      });
      expect(other.status).toBe(403);
    } finally {
      await d.close();
    }
  });
});
