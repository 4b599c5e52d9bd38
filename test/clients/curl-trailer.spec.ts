// The UploadTrailer from a client podfiles did not write: curl sends an Upload whose size and
// digest come last, over gRPC (h2c, binary: the server's fast path; the trailer's bytes encoded
// by hand here, as the proto documents them) and over Connect streaming JSON (connect-node's path;
// the messages written as JSON by hand). A trailer that does not match is DATA_LOSS and leaves
// nothing.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { createHash } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UploadRequestSchema, UploadResponseSchema } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { run } from "./support.js";

const container = { namespace: "local", pod: "local", container: "local" };
const service = "podfiles.v1.FileService";
const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + (i >> 8)) & 0xff));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();

function envelope(payload: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

function unenvelope(body: Buffer): { flags: number; payload: Buffer }[] {
  const out = [];
  for (let i = 0; i < body.length; ) {
    const length = body.readUInt32BE(i + 1);
    out.push({ flags: body[i]!, payload: body.subarray(i + 5, i + 5 + length) });
    i += 5 + length;
  }
  return out;
}

/** protobuf varint */
function varint(n: number): Buffer {
  const out = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

/** UploadRequest{trailer = 3: UploadTrailer{expected_size = 1 (varint), expected_digest = 2 (bytes)}}, by hand */
function trailerMessage(size: number, digest: Buffer): Buffer {
  const inner = Buffer.concat([Buffer.from([0x08]), varint(size), Buffer.from([0x12]), varint(digest.length), digest]);
  return Buffer.concat([Buffer.from([0x1a]), varint(inner.length), inner]);
}

let server: TestServer;
let scratch: string;
beforeAll(async () => {
  server = await startTestServer();
  scratch = mkdtempSync(join(tmpdir(), "podfiles-curl-trailer-"));
});
afterAll(async () => {
  await server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

async function curl(contentType: string, body: Buffer, extra: string[] = []) {
  const input = join(scratch, `req-${Date.now()}-${Math.random()}`);
  const headers = `${input}.headers`;
  writeFileSync(input, body);
  const res = await run(
    "curl",
    [
      "--silent",
      "--show-error",
      "--max-time",
      "30",
      "--http2-prior-knowledge",
      "-H",
      `content-type: ${contentType}`,
      ...extra,
      "--data-binary",
      `@${input}`,
      "-D",
      headers,
      `${server.url}/${service}/Upload`,
    ],
    { timeoutMs: 40_000 },
  );
  const dump = readFileSync(headers, "utf8");
  return { body: res.stdout, status: /grpc-status: ?(\d+)/.exec(dump)?.[1], message: /grpc-message: ?(.*)\r/.exec(dump)?.[1] };
}

function grpcBody(path: string, trailer: Buffer): Buffer {
  const header = create(UploadRequestSchema, { part: { case: "header", value: { container, path } } });
  const frames = [envelope(toBinary(UploadRequestSchema, header))];
  for (let at = 0; at < data.length; at += 100_000) {
    frames.push(envelope(toBinary(UploadRequestSchema, create(UploadRequestSchema, { part: { case: "data", value: data.subarray(at, at + 100_000) } }))));
  }
  frames.push(envelope(trailer));
  return Buffer.concat(frames);
}

describe("curl, gRPC over h2c (the fast path)", () => {
  it("an Upload whose SHA-256 and size come in the trailer: written, the response carries the digest", async () => {
    const res = await curl("application/grpc", grpcBody("/curl-trailer.bin", trailerMessage(data.length, sha(data))), ["-H", "te: trailers"]);
    expect(res.status).toBe("0");
    const out = fromBinary(UploadResponseSchema, unenvelope(res.body)[0]!.payload);
    expect(Buffer.from(out.sha256).equals(sha(data))).toBe(true);
    expect(readFileSync(join(server.root, "curl-trailer.bin")).equals(data)).toBe(true);
  });

  it("a trailer SHA-256 that does not match: DATA_LOSS (15), nothing written", async () => {
    const wrong = sha(data);
    wrong[0] ^= 1;
    const res = await curl("application/grpc", grpcBody("/curl-trailer-bad.bin", trailerMessage(data.length, wrong)), ["-H", "te: trailers"]);
    expect(res.status).toBe("15");
    expect(decodeURIComponent(res.message ?? "")).toMatch(/SHA-256 mismatch/);
    expect(existsSync(join(server.root, "curl-trailer-bad.bin"))).toBe(false);
  });
});

describe("curl, Connect streaming JSON (connect-node's path)", () => {
  const jsonBody = (path: string, crc: number) => {
    const digest = Buffer.alloc(4);
    digest.writeUInt32BE(crc);
    const messages = [
      { header: { container, path, options: { digestAlgorithm: "DIGEST_ALGORITHM_CRC32" } } },
      { data: data.subarray(0, 150_000).toString("base64") },
      { data: data.subarray(150_000).toString("base64") },
      { trailer: { expectedSize: String(data.length), expectedDigest: digest.toString("base64") } },
    ];
    return Buffer.concat(messages.map((m) => envelope(Buffer.from(JSON.stringify(m)))));
  };

  it("a CRC-32 in the trailer: written, the response carries it", async () => {
    const res = await curl("application/connect+json", jsonBody("/curl-trailer.json.bin", crc32(data)));
    const frames = unenvelope(res.body);
    const end = JSON.parse(frames.find((f) => f.flags === 2)!.payload.toString());
    expect(end.error).toBeUndefined();
    const message = JSON.parse(frames.find((f) => f.flags === 0)!.payload.toString());
    expect(message.digestAlgorithm).toBe("DIGEST_ALGORITHM_CRC32");
    expect(Buffer.from(message.digest, "base64").readUInt32BE()).toBe(crc32(data));
    expect(readFileSync(join(server.root, "curl-trailer.json.bin")).equals(data)).toBe(true);
  });

  it("a CRC-32 in the trailer that does not match: data_loss, nothing written", async () => {
    const res = await curl("application/connect+json", jsonBody("/curl-trailer-bad.json.bin", (crc32(data) ^ 1) >>> 0));
    const end = JSON.parse(
      unenvelope(res.body)
        .find((f) => f.flags === 2)!
        .payload.toString(),
    );
    expect(end.error.code).toBe("data_loss");
    expect(end.error.message).toMatch(/CRC-32 mismatch/);
    expect(existsSync(join(server.root, "curl-trailer-bad.json.bin"))).toBe(false);
  });
});
