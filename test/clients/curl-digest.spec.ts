// Issue #16 with a client podfiles did not write: curl sends the digest choice over gRPC (h2c,
// binary: the server's fast paths) and over Connect streaming JSON (connect-node's path), and
// checks what comes back against zlib's CRC-32 and SHA-256 computed here. A request without the
// field (what every client before #16 sends) still gets SHA-256 in `sha256`.
import { readFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DigestAlgorithm,
  DownloadRequestSchema,
  DownloadResponseSchema,
  UploadRequestSchema,
  UploadResponseSchema,
  type DownloadResponse,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { run, seedRoot, sha256 } from "./support.js";

const container = { namespace: "local", pod: "local", container: "local" };
const service = "podfiles.v1.FileService";
const crcHex = (b: Uint8Array) => crc32(b).toString(16).padStart(8, "0");
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString("hex");

function envelope(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

function unenvelope(body: Buffer): { flags: number; payload: Buffer }[] {
  const out = [];
  for (let i = 0; i < body.length; ) {
    const length = body.readUInt32BE(i + 1);
    out.push({ flags: body[i], payload: body.subarray(i + 5, i + 5 + length) });
    i += 5 + length;
  }
  return out;
}

let server: TestServer;
let random: Buffer;
let scratch: string;
beforeAll(async () => {
  server = await startTestServer();
  random = seedRoot(server.root);
  scratch = mkdtempSync(join(tmpdir(), "podfiles-curl-digest-"));
});
afterAll(async () => {
  await server?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** curl POSTs the body (from a file) over h2c; returns the body and the grpc-status of the trailers. */
async function grpc(method: string, body: Buffer) {
  const input = join(scratch, `${method}-${Date.now()}.req`);
  const headers = join(scratch, `${method}-${Date.now()}.headers`);
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
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      "--data-binary",
      `@${input}`,
      "-D",
      headers,
      `${server.url}/${service}/${method}`,
    ],
    { timeoutMs: 40_000 },
  );
  const dump = readFileSync(headers, "utf8");
  return { body: res.stdout, status: /grpc-status: ?(\d+)/.exec(dump)?.[1], message: /grpc-message: ?(.*)\r/.exec(dump)?.[1] };
}

function downloadParts(body: Buffer): DownloadResponse["part"][] {
  return unenvelope(body).map((f) => fromBinary(DownloadResponseSchema, f.payload).part);
}

describe("curl, gRPC over h2c (the fast paths)", () => {
  it.each([
    { name: "no digest_algorithm (an old client)", alg: undefined, used: DigestAlgorithm.SHA256, digest: sha256, sha: true },
    { name: "CRC32", alg: DigestAlgorithm.CRC32, used: DigestAlgorithm.CRC32, digest: crcHex, sha: false },
    { name: "NONE", alg: DigestAlgorithm.NONE, used: DigestAlgorithm.NONE, digest: () => "", sha: false },
  ])("Download with $name", async ({ alg, used, digest, sha }) => {
    const req = create(DownloadRequestSchema, { container, path: "/seed/random.bin", ...(alg === undefined ? {} : { digestAlgorithm: alg }) });
    const res = await grpc("Download", envelope(toBinary(DownloadRequestSchema, req)));
    expect(res.status).toBe("0");
    const parts = downloadParts(res.body);
    const header = parts[0]!;
    const trailer = parts.at(-1)!;
    expect(header.case === "header" && header.value.digestAlgorithm).toBe(used);
    const data = Buffer.concat(parts.filter((p) => p.case === "data").map((p) => p.value as Uint8Array));
    expect(data.equals(random)).toBe(true);
    if (trailer.case !== "trailer") throw new Error("no trailer");
    expect(trailer.value.digestAlgorithm).toBe(used);
    expect(hex(trailer.value.digest)).toBe(digest(random));
    expect(hex(trailer.value.sha256)).toBe(sha ? sha256(random) : "");
  });

  const uploadBody = (path: string, options: Record<string, unknown>, data: Buffer) => {
    const header = create(UploadRequestSchema, { part: { case: "header", value: { container, path, options } } });
    const frames = [envelope(toBinary(UploadRequestSchema, header))];
    for (let at = 0; at < data.length; at += 1 << 20) {
      frames.push(envelope(toBinary(UploadRequestSchema, create(UploadRequestSchema, { part: { case: "data", value: data.subarray(at, at + (1 << 20)) } }))));
    }
    return Buffer.concat(frames);
  };

  it("Upload with CRC32 and the right expected_digest: written, the response carries the CRC-32", async () => {
    const want = Buffer.alloc(4);
    want.writeUInt32BE(crc32(random));
    const res = await grpc("Upload", uploadBody("/curl-crc.bin", { digestAlgorithm: DigestAlgorithm.CRC32, expectedDigest: want }, random));
    expect(res.status).toBe("0");
    const out = fromBinary(UploadResponseSchema, unenvelope(res.body)[0]!.payload);
    expect(out.digestAlgorithm).toBe(DigestAlgorithm.CRC32);
    expect(hex(out.digest)).toBe(crcHex(random));
    expect(hex(out.sha256)).toBe("");
    expect(readFileSync(join(server.root, "curl-crc.bin")).equals(random)).toBe(true);
  });

  it("Upload with CRC32 and a wrong expected_digest: DATA_LOSS (15), nothing written", async () => {
    const wrong = Buffer.alloc(4);
    wrong.writeUInt32BE((crc32(random) ^ 1) >>> 0); // ^ gives a signed 32-bit int: >>> 0 makes it unsigned again
    const res = await grpc("Upload", uploadBody("/curl-crc-bad.bin", { digestAlgorithm: DigestAlgorithm.CRC32, expectedDigest: wrong }, random));
    expect(res.status).toBe("15");
    expect(decodeURIComponent(res.message ?? "")).toMatch(/CRC-32 mismatch/);
    expect(existsSync(join(server.root, "curl-crc-bad.bin"))).toBe(false);
  });
});

describe("curl, Connect streaming JSON (connect-node's path)", () => {
  it("Download with DIGEST_ALGORITHM_CRC32 by name", async () => {
    const req = envelope(Buffer.from(JSON.stringify({ container, path: "/seed/random.bin", digestAlgorithm: "DIGEST_ALGORITHM_CRC32" })));
    const res = await run(
      "curl",
      [
        "--silent",
        "--show-error",
        "--max-time",
        "30",
        "--http2-prior-knowledge",
        "-H",
        "content-type: application/connect+json",
        "--data-binary",
        "@-",
        `${server.url}/${service}/Download`,
      ],
      { input: req, timeoutMs: 40_000 },
    );
    const frames = unenvelope(res.stdout);
    const messages = frames.filter((f) => f.flags === 0).map((f) => JSON.parse(f.payload.toString()));
    expect(messages[0].header.digestAlgorithm).toBe("DIGEST_ALGORITHM_CRC32");
    const trailer = messages.at(-1).trailer;
    expect(trailer.digestAlgorithm).toBe("DIGEST_ALGORITHM_CRC32");
    expect(Buffer.from(trailer.digest, "base64").toString("hex")).toBe(crcHex(random));
    expect(trailer.sha256).toBeUndefined();
  });
});
