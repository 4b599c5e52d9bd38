// The Download fast path (src/server/download-fast-path) against connect-node's own handler for
// the same call: for every protocol it serves, the bytes on the wire must be the same (data,
// envelopes, end-of-stream status), errors included. And the recycled chunk memory must never
// leak one download's bytes into another's (concurrent downloads, a stalled reader).
import * as http2 from "node:http2";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DownloadRequestSchema } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { downloadAll, hex, random, sha256 } from "../support/files.js";

const MiB = 1024 * 1024;
let fast: TestServer;
let plain: TestServer;
const content = random(3 * MiB + 7);

beforeAll(async () => {
  fast = await startTestServer();
  plain = await startTestServer({ root: fast.root, fastPaths: false });
  writeFileSync(join(fast.root, "data.bin"), content);
});
afterAll(async () => {
  await plain.close();
  await fast.close();
});

const PATH = "/podfiles.v1.FileService/Download";
const container = { namespace: "local", pod: "local", container: "local" };

function requestBody(path: string): Buffer {
  const msg = toBinary(DownloadRequestSchema, create(DownloadRequestSchema, { container, path, chunkSize: MiB }));
  const out = Buffer.alloc(5 + msg.length);
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}

interface WireResponse {
  status: number;
  contentType: string | undefined;
  body: Buffer;
  /** gRPC status fields, from trailers (or trailers-only headers) */
  grpcStatus?: string;
  grpcMessage?: string;
}

async function overHttp1(url: string, contentType: string, body: Buffer, extra: Record<string, string> = {}): Promise<WireResponse> {
  const res = await fetch(url + PATH, { method: "POST", headers: { "content-type": contentType, ...extra }, body });
  return { status: res.status, contentType: res.headers.get("content-type") ?? undefined, body: Buffer.from(await res.arrayBuffer()) };
}

function overHttp2(url: string, contentType: string, body: Buffer, extra: Record<string, string> = {}): Promise<WireResponse> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.once("error", reject);
    const req = session.request({ ":method": "POST", ":path": PATH, "content-type": contentType, te: "trailers", ...extra });
    const parts: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => (head = h));
    req.on("trailers", (t) => (trailers = t));
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("error", reject);
    req.on("end", () => {
      session.close();
      const status = (trailers["grpc-status"] ?? head["grpc-status"]) as string | undefined;
      const message = (trailers["grpc-message"] ?? head["grpc-message"]) as string | undefined;
      resolve({ status: Number(head[":status"]), contentType: head["content-type"], body: Buffer.concat(parts), grpcStatus: status, grpcMessage: message });
    });
    req.end(body);
  });
}

/** The call's status as text: gRPC's trailers, or the body's end-of-stream frame (JSON or header lines), decoded. */
function statusText(r: WireResponse): string {
  if (r.grpcStatus !== undefined) return `grpc-status: ${r.grpcStatus}\ngrpc-message: ${decodeURIComponent(r.grpcMessage ?? "")}`;
  // the last envelope of the body carries the status
  let at = 0;
  let last: Buffer = Buffer.alloc(0);
  while (at + 5 <= r.body.length) {
    const end = at + 5 + r.body.readUInt32BE(at + 1);
    last = r.body.subarray(at + 5, end);
    at = end;
  }
  return decodeURIComponent(last.toString("utf8"));
}

const cases = [
  { name: "Connect streaming over HTTP/1.1", send: overHttp1, contentType: "application/connect+proto" },
  { name: "gRPC-Web over HTTP/1.1", send: overHttp1, contentType: "application/grpc-web+proto" },
  { name: "Connect streaming over h2c", send: overHttp2, contentType: "application/connect+proto" },
  { name: "gRPC-Web over h2c", send: overHttp2, contentType: "application/grpc-web+proto" },
  { name: "gRPC over h2c", send: overHttp2, contentType: "application/grpc" },
];

describe.each(cases)("the fast path writes what connect-node writes: $name", ({ send, contentType }) => {
  const both = async (body: Buffer, extra: Record<string, string> = {}) => {
    const [a, b] = await Promise.all([send(fast.url, contentType, body, extra), send(plain.url, contentType, body, extra)]);
    return { fast: a, plain: b };
  };

  it("a file in several chunks: same status, content type, body bytes and trailers", async () => {
    const { fast: f, plain: p } = await both(requestBody("/data.bin"));
    expect(f.status).toBe(200);
    expect(f.contentType).toBe(p.contentType);
    expect(f.body.length).toBeGreaterThan(content.length);
    expect(f.body.equals(p.body)).toBe(true);
    expect(f.grpcStatus).toBe(p.grpcStatus);
  });

  it("a missing file: the same error status and message", async () => {
    const { fast: f, plain: p } = await both(requestBody("/no/such/file"));
    expect(f.status).toBe(p.status);
    expect(f.body.toString("latin1")).toBe(p.body.toString("latin1"));
    expect(f.grpcStatus).toBe(p.grpcStatus);
    expect(decodeURIComponent(f.grpcMessage ?? "")).toBe(decodeURIComponent(p.grpcMessage ?? ""));
    expect(statusText(f)).toMatch(/no such file|not found/i);
  });

  it("a malformed deadline header: the same INVALID_ARGUMENT", async () => {
    const header: Record<string, string> = contentType.includes("connect") ? { "connect-timeout-ms": "soon" } : { "grpc-timeout": "soon" };
    const { fast: f, plain: p } = await both(requestBody("/data.bin"), header);
    expect(f.body.toString("latin1")).toBe(p.body.toString("latin1"));
    expect(f.grpcStatus).toBe(p.grpcStatus);
    expect(statusText(f)).toMatch(/"code":"invalid_argument"|grpc-status: 3\b/);
    expect(statusText(f)).toMatch(/invalid (grpc|connect) timeout value: soon/);
  });

  it("a request body that is not one message: the same error", async () => {
    const { fast: f, plain: p } = await both(Buffer.concat([requestBody("/data.bin"), requestBody("/data.bin")]));
    expect(f.status).toBe(p.status);
    expect(statusText(f)).toBe(statusText(p));
    expect(statusText(f)).toMatch(/"code":"unimplemented"|grpc-status: 12\b/);
    expect(statusText(f)).toMatch(/received extra input message/);
  });
});

describe("deadlines", () => {
  it("a stalled gRPC download ends with DEADLINE_EXCEEDED when its grpc-timeout passes", async () => {
    writeFileSync(join(fast.root, "deadline.bin"), random(64 * MiB));
    const session = http2.connect(fast.url);
    try {
      const result = await new Promise<{ status?: string; bytes: number }>((resolve, reject) => {
        const req = session.request({ ":method": "POST", ":path": PATH, "content-type": "application/grpc", te: "trailers", "grpc-timeout": "300m" });
        let bytes = 0;
        let status: string | undefined;
        req.on("trailers", (t) => (status = t["grpc-status"] as string));
        req.on("response", (h) => (status ??= h["grpc-status"] as string | undefined));
        req.on("data", (c: Buffer) => (bytes += c.length));
        req.on("end", () => resolve({ status, bytes }));
        req.on("error", reject);
        req.end(requestBody("/deadline.bin"));
        // read nothing for longer than the deadline: the server's writes stall on flow control
        req.pause();
        setTimeout(() => req.resume(), 1200);
      });
      expect(result.status).toBe(String(Code.DeadlineExceeded));
      expect(result.bytes).toBeLessThan(64 * MiB);
    } finally {
      session.close();
    }
  });
});

describe("recycled chunk memory", () => {
  it("concurrent downloads over every binary protocol each get their own bytes", async () => {
    const files = Array.from({ length: 8 }, (_, i) => ({ path: `/concurrent-${i}.bin`, data: random(5 * MiB + i * 4099) }));
    for (const f of files) writeFileSync(join(fast.root, f.path), f.data);
    const protocols = ["grpc", "connectBinaryH1", "connectH2", "grpcWeb"] as const;
    const results = await Promise.all(
      files.map((f, i) => downloadAll(fast.clients[protocols[i % protocols.length]], fast.container, f.path, { chunkSize: 256 * 1024 })),
    );
    results.forEach((r, i) => {
      expect(sha256(r.data)).toBe(sha256(files[i].data));
      expect(hex(r.trailer?.sha256)).toBe(sha256(files[i].data));
    });
  });

  it("a stalled reader's chunks are not overwritten by a download that runs meanwhile", async () => {
    const slow = random(24 * MiB);
    const busy = random(24 * MiB);
    writeFileSync(join(fast.root, "slow.bin"), slow);
    writeFileSync(join(fast.root, "busy.bin"), busy);
    const received: Uint8Array[] = [];
    let stalled = false;
    const slowDownload = (async () => {
      for await (const m of fast.clients.grpc.download({ container: fast.container, path: "/slow.bin" })) {
        if (m.part.case !== "data") continue;
        received.push(m.part.value);
        if (!stalled) {
          stalled = true;
          // while this reader stalls, another download cycles pooled buffers through the server
          const other = await downloadAll(fast.clients.connectBinaryH1, fast.container, "/busy.bin");
          expect(sha256(other.data)).toBe(sha256(busy));
        }
      }
    })();
    await slowDownload;
    expect(sha256(Buffer.concat(received))).toBe(sha256(slow));
  });

  it("a download cancelled mid-stream leaves the server serving correct bytes", async () => {
    const abort = new AbortController();
    let n = 0;
    await expect(
      (async () => {
        for await (const m of fast.clients.connectBinaryH1.download(
          { container: fast.container, path: "/data.bin", chunkSize: 64 * 1024 },
          { signal: abort.signal },
        )) {
          if (m.part.case === "data" && ++n === 3) abort.abort();
        }
      })(),
    ).rejects.toSatisfy((e) => ConnectError.from(e).code === Code.Canceled);
    const again = await downloadAll(fast.clients.grpcWeb, fast.container, "/data.bin", { chunkSize: 64 * 1024 });
    expect(sha256(again.data)).toBe(sha256(content));
  });
});
