// forward-call's parts that the two-server spec (test/server/forward.spec.ts) does not isolate:
// which headers go to the peer, the deadline less the time spent, and a peer that accepts TCP
// but never speaks HTTP/2 (UNAVAILABLE within the connect timeout, not a hang).
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { FileServiceError } from "../../errors.js";
import type { NodeRequest } from "./call-target.js";
import { PeerSessions, forwardedHeaders, reduceGrpcTimeout } from "./forward-call.js";

const request = (headers: Record<string, string>, extra: Partial<{ url: string; authority: string }> = {}) =>
  ({
    method: "POST",
    url: extra.url ?? "/podfiles.v1.FileService/Stat",
    headers,
    authority: extra.authority,
    socket: { remoteAddress: "10.1.2.3" },
  }) as unknown as NodeRequest;

describe("forwardedHeaders", () => {
  it("drops hop-by-hop headers, Origin and every podfiles-forwarded-* / podfiles-agent-* a caller sent; adds the hop's own", () => {
    const h = forwardedHeaders(
      request({
        host: "files.example:8080",
        connection: "keep-alive",
        "keep-alive": "timeout=5",
        "transfer-encoding": "chunked",
        te: "gzip",
        origin: "https://files.example",
        "content-type": "application/connect+proto",
        authorization: "Bearer caller",
        "podfiles-forwarded-by": "node-z",
        "podfiles-forwarded-for": "6.6.6.6",
        "podfiles-agent-authorization": "Bearer forged",
        "x-custom": "kept",
      }),
      { self: "node-a", agentCredential: () => "Bearer agent" },
      performance.now(),
    );
    expect(h).toEqual({
      "content-type": "application/connect+proto",
      authorization: "Bearer caller",
      "x-custom": "kept",
      ":method": "POST",
      ":path": "/podfiles.v1.FileService/Stat",
      ":scheme": "http",
      ":authority": "files.example:8080",
      "podfiles-forwarded-by": "node-a",
      "podfiles-forwarded-for": "10.1.2.3",
      "podfiles-agent-authorization": "Bearer agent",
    });
  });

  it("a caller's own podfiles-forwarded-user / -groups never reach the peer; only the forwarding agent's assertion does", () => {
    const forged = request({ "podfiles-forwarded-user": "admin", "podfiles-forwarded-groups": "system:masters", authorization: "Bearer caller" });
    const plain = forwardedHeaders(forged, { self: "node-a" }, performance.now());
    expect(plain["podfiles-forwarded-user"]).toBeUndefined();
    expect(plain["podfiles-forwarded-groups"]).toBeUndefined();
    const asserted = forwardedHeaders(
      request({ "podfiles-forwarded-groups": "system:masters" }),
      { self: "node-a", identity: { "podfiles-forwarded-user": "alice" } },
      performance.now(),
    );
    expect(asserted["podfiles-forwarded-user"]).toBe("alice");
    expect(asserted["podfiles-forwarded-groups"]).toBeUndefined();
  });

  it("keeps te: trailers (gRPC needs it) and an HTTP/2 caller's :authority", () => {
    const h = forwardedHeaders(request({ te: "trailers", ":authority": "x" }, { authority: "10.0.0.1:8080" }), { self: "a" }, performance.now());
    expect(h["te"]).toBe("trailers");
    expect(h[":authority"]).toBe("10.0.0.1:8080");
    expect(h["podfiles-agent-authorization"]).toBeUndefined();
  });

  it("passes the deadline on less the time already spent", () => {
    const h = forwardedHeaders(request({ "grpc-timeout": "2S", "connect-timeout-ms": "2000" }), { self: "a" }, performance.now() - 500);
    expect(Number(String(h["grpc-timeout"]).slice(0, -1))).toBeLessThanOrEqual(1500);
    expect(String(h["grpc-timeout"])).toMatch(/^1[45]\d\dm$/);
    expect(Number(h["connect-timeout-ms"])).toBeLessThanOrEqual(1500);
  });
});

describe("reduceGrpcTimeout", () => {
  it("converts every unit, never goes below 1 ms, and leaves malformed values for the peer to refuse", () => {
    expect(reduceGrpcTimeout("1H", 1000)).toBe(`${3_600_000 - 1000}m`);
    expect(reduceGrpcTimeout("1M", 0)).toBe("1M");
    expect(reduceGrpcTimeout("100m", 250)).toBe("1m");
    expect(reduceGrpcTimeout("5000000u", 1000)).toBe("4000m");
    expect(reduceGrpcTimeout("abc", 10)).toBe("abc");
    expect(reduceGrpcTimeout(undefined, 10)).toBeUndefined();
  });
});

describe("PeerSessions", () => {
  it("a peer that accepts TCP but never answers HTTP/2: UNAVAILABLE naming node and address within the connect timeout", async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s)); // accepts, reads nothing, says nothing
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const address = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    const sessions = new PeerSessions({ self: "a", connectTimeoutMs: 300 });
    try {
      const started = performance.now();
      const err = await sessions.get({ node: "node-q", address }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FileServiceError);
      expect((err as FileServiceError).kind).toBe("unavailable");
      expect((err as Error).message).toBe(`cannot reach the podfiles agent on node node-q at ${address}: no connection within 300 ms`);
      expect(performance.now() - started).toBeLessThan(1500);
    } finally {
      sessions.close();
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
