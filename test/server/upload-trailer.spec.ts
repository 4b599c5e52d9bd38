// The Upload trailer: expected size and digest sent as the last message, so a client hashes while
// it sends and reads its source once. Checked on the gRPC fast path (src/server/fast-path/upload.ts)
// and on connect-node's own path (Connect over HTTP/2, binary and JSON), with SHA-256 and CRC-32; a
// mismatch leaves nothing (no file, no temp); a malformed trailer sequence is INVALID_ARGUMENT.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ArchiveFormat,
  DigestAlgorithm,
  FileService,
  UploadRequestSchema,
  type UploadOptionsSchema,
  type UploadRequest,
  type UploadTrailerSchema,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import { WideSessionManager, wideNodeOptions } from "../../src/client/wide-session-manager.js";
import { hex, random, type FileClient } from "../support/files.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { codeAndMessage } from "../support/status.js";

const MiB = 1024 * 1024;
const content = random(2 * MiB + 77);

let server: TestServer;
let connectJsonH2: FileClient;
beforeAll(async () => {
  server = await startTestServer();
  const baseUrl = server.url;
  connectJsonH2 = createClient(
    FileService,
    createConnectTransport({
      baseUrl,
      httpVersion: "2",
      nodeOptions: wideNodeOptions,
      sessionManager: new WideSessionManager(baseUrl),
      useBinaryFormat: false,
      readMaxBytes: 16 * MiB,
      writeMaxBytes: 16 * MiB,
    }),
  );
});
afterAll(async () => {
  await server?.close();
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();
const crc = (b: Uint8Array) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(b));
  return out;
};
/** temp names of uploads and tar extractions, anywhere under the root */
const leftovers = () => (readdirSync(server.root, { recursive: true }) as string[]).filter((n) => n.includes(".podfiles-"));
const onDisk = (path: string) => join(server.root, path.slice(1));

type Options = MessageInitShape<typeof UploadOptionsSchema>;
type Trailer = MessageInitShape<typeof UploadTrailerSchema>;

/** header, data, then the given tail of messages (trailers, more data) in order */
function upload(client: FileClient, path: string, options: Options, data: Uint8Array, tail: ({ trailer: Trailer } | { data: Uint8Array })[]) {
  async function* requests(): AsyncGenerator<UploadRequest> {
    yield create(UploadRequestSchema, { part: { case: "header", value: { container: server.container, path, options } } });
    for (let at = 0; at < data.length; at += MiB) yield create(UploadRequestSchema, { part: { case: "data", value: data.subarray(at, at + MiB) } });
    for (const m of tail) {
      yield create(UploadRequestSchema, { part: "trailer" in m ? { case: "trailer", value: m.trailer } : { case: "data", value: m.data } });
    }
  }
  return client.upload(requests());
}

const algorithms = [
  { name: "SHA-256", alg: DigestAlgorithm.SHA256, digest: sha, mismatch: /SHA-256 mismatch/ },
  { name: "CRC-32", alg: DigestAlgorithm.CRC32, digest: crc, mismatch: /CRC-32 mismatch/ },
];

const paths: { name: string; client: () => FileClient }[] = [
  { name: "fast path (gRPC)", client: () => server.clients.grpc },
  { name: "connect-node (Connect, binary)", client: () => server.clients.connectH2 },
  { name: "connect-node (Connect, JSON)", client: () => connectJsonH2 },
];

describe.each(paths)("Upload trailer, $name", ({ name: pathName, client }) => {
  const target = (what: string) => `/trailer-${pathName.replace(/\W+/g, "")}-${what.replace(/\W+/g, "")}.bin`;

  it.each(algorithms)("$name: size and digest in the trailer only, written and reported", async ({ name, alg, digest }) => {
    const path = target(`ok-${name}`);
    const res = await upload(client(), path, { digestAlgorithm: alg }, content, [
      { trailer: { expectedSize: BigInt(content.length), expectedDigest: digest(content) } },
    ]);
    expect(res.digestAlgorithm).toBe(alg);
    expect(hex(res.digest)).toBe(hex(digest(content)));
    expect(res.bytesReceived).toBe(BigInt(content.length));
    expect(readFileSync(onDisk(path)).equals(content)).toBe(true);
  });

  it.each(algorithms)("$name: a mismatching trailer digest is DATA_LOSS, no file and no temp left", async ({ name, alg, digest, mismatch }) => {
    const path = target(`bad-${name}`);
    const wrong = Buffer.from(digest(content));
    wrong[0] ^= 1;
    const [code, message] = await codeAndMessage(upload(client(), path, { digestAlgorithm: alg }, content, [{ trailer: { expectedDigest: wrong } }]));
    expect(code).toBe(Code.DataLoss);
    expect(message).toMatch(mismatch);
    expect(existsSync(onDisk(path))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("a trailer size that does not match is INVALID_ARGUMENT, nothing written", async () => {
    const path = target("size");
    const [code, message] = await codeAndMessage(upload(client(), path, {}, content, [{ trailer: { expectedSize: BigInt(content.length + 1) } }]));
    expect(code).toBe(Code.InvalidArgument);
    expect(message).toMatch(/expected \d+; nothing was written/);
    expect(existsSync(onDisk(path))).toBe(false);
  });

  it("the same expectations in header and trailer: accepted", async () => {
    const path = target("both");
    const res = await upload(client(), path, { expectedSize: BigInt(content.length), expectedSha256: sha(content) }, content, [
      { trailer: { expectedSize: BigInt(content.length), expectedDigest: sha(content) } },
    ]);
    expect(hex(res.sha256)).toBe(hex(sha(content)));
  });

  it.each([
    { what: "data after the trailer", tail: [{ trailer: {} }, { data: Buffer.from("x") }], want: /data message after the Upload trailer/ },
    { what: "an empty data message after the trailer", tail: [{ trailer: {} }, { data: Buffer.alloc(0) }], want: /data message after the Upload trailer/ },
    { what: "two trailers", tail: [{ trailer: {} }, { trailer: {} }], want: /second Upload trailer/ },
    {
      what: "a trailer digest unlike the header's",
      options: { expectedSha256: sha(content) },
      tail: [{ trailer: { expectedDigest: sha(Buffer.from("other")) } }],
      want: /trailer's expected_digest differs from the header's/,
    },
    {
      what: "a trailer size unlike the header's",
      options: { expectedSize: BigInt(content.length) },
      tail: [{ trailer: { expectedSize: 5n } }],
      want: /trailer's expected_size 5 differs from the header's/,
    },
    { what: "a SHA-256 of 4 bytes", tail: [{ trailer: { expectedDigest: Buffer.alloc(4) } }], want: /expected_digest must be 32 bytes for SHA-256, got 4/ },
    {
      what: "a CRC-32 of 32 bytes",
      options: { digestAlgorithm: DigestAlgorithm.CRC32 },
      tail: [{ trailer: { expectedDigest: Buffer.alloc(32) } }],
      want: /expected_digest must be 4 bytes for CRC-32, got 32/,
    },
    {
      what: "a digest with NONE",
      options: { digestAlgorithm: DigestAlgorithm.NONE },
      tail: [{ trailer: { expectedDigest: Buffer.alloc(4) } }],
      want: /expected_digest must be empty with digest_algorithm NONE/,
    },
  ] as { what: string; options?: Options; tail: ({ trailer: Trailer } | { data: Uint8Array })[]; want: RegExp }[])(
    "$what: INVALID_ARGUMENT, nothing written",
    async ({ what, options, tail, want }) => {
      const path = target(`inv-${what}`);
      const [code, message] = await codeAndMessage(upload(client(), path, options ?? {}, content, tail));
      expect(code).toBe(Code.InvalidArgument);
      expect(message).toMatch(want);
      expect(existsSync(onDisk(path))).toBe(false);
      expect(leftovers()).toEqual([]);
    },
  );
});

describe("tar upload with a trailer", () => {
  async function tarOf(files: Record<string, string>): Promise<Buffer> {
    const pack = tar.pack();
    const parts: Buffer[] = [];
    pack.on("data", (c: unknown) => void parts.push(c as Buffer));
    const ended = new Promise<void>((resolve) => pack.on("end", () => resolve()));
    for (const [name, text] of Object.entries(files)) pack.entry({ name }, text);
    pack.finalize();
    await ended;
    return Buffer.concat(parts);
  }

  it.each(paths)("$name: extracted when the trailer matches", async ({ name, client }) => {
    const body = await tarOf({ "a.txt": "alpha", "b.txt": "beta" });
    const dir = `/tar-ok-${name.replace(/\W+/g, "")}`;
    const res = await upload(client(), dir, { format: ArchiveFormat.TAR, makeParents: true }, body, [
      { trailer: { expectedSize: BigInt(body.length), expectedDigest: sha(body) } },
    ]);
    expect(res.entriesExtracted).toBe(2);
    expect(readFileSync(join(onDisk(dir), "b.txt"), "utf8")).toBe("beta");
  });

  it.each(paths)("$name: a mismatching trailer into a new directory is DATA_LOSS and leaves no directory, no temp", async ({ name, client }) => {
    const body = await tarOf({ "a.txt": "alpha" });
    mkdirSync(join(server.root, "tars"), { recursive: true });
    const dir = `/tars/bad-${name.replace(/\W+/g, "")}`;
    const wrong = sha(body);
    wrong[5] ^= 1;
    const [code] = await codeAndMessage(
      upload(client(), dir, { format: ArchiveFormat.TAR, makeParents: true }, body, [{ trailer: { expectedDigest: wrong } }]),
    );
    expect(code).toBe(Code.DataLoss);
    expect(existsSync(onDisk(dir))).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});

describe("CommitUpload with a trailer (the chunked upload, hashed while sent)", () => {
  /** BeginUpload with a size and no digest, every chunk, then CommitUpload with `trailer` */
  async function chunked(client: FileClient, path: string, data: Uint8Array, trailer: Trailer | undefined, options: Options = {}) {
    const begin = await client.beginUpload({ container: server.container, path, options: { expectedSize: BigInt(data.length), ...options } });
    expect(begin.commitChecksTrailer).toBe(true);
    for (let at = 0; at < data.length; at += MiB) {
      await client.writeUploadChunk({ container: server.container, path, uploadId: begin.uploadId, offset: BigInt(at), data: data.subarray(at, at + MiB) });
    }
    expect((await client.queryUpload({ container: server.container, path, uploadId: begin.uploadId })).commitChecksTrailer).toBe(true);
    return client.commitUpload({ container: server.container, path, uploadId: begin.uploadId, trailer });
  }

  it.each(algorithms)("$name: committed when the trailer's digest matches", async ({ name, alg, digest }) => {
    const path = `/commit-ok-${name.replace(/\W+/g, "")}.bin`;
    const res = await chunked(
      server.clients.connectH2,
      path,
      content,
      { expectedDigest: digest(content), expectedSize: BigInt(content.length) },
      { digestAlgorithm: alg },
    );
    expect(Buffer.from(res.digest)).toEqual(Buffer.from(digest(content)));
    expect(Buffer.from(readFileSync(onDisk(path)))).toEqual(Buffer.from(content));
  });

  it.each(algorithms)("$name: a mismatching digest is DATA_LOSS, no file, no temp, the session gone", async ({ name, alg, digest, mismatch }) => {
    const path = `/commit-bad-${name.replace(/\W+/g, "")}.bin`;
    const wrong = Buffer.from(digest(content));
    wrong[1] ^= 1;
    const [code, message] = await codeAndMessage(chunked(server.clients.connectH2, path, content, { expectedDigest: wrong }, { digestAlgorithm: alg }));
    expect(code).toBe(Code.DataLoss);
    expect(message).toMatch(mismatch);
    expect(existsSync(onDisk(path))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("a trailer size unlike BeginUpload's, or a digest unlike its expected_sha256: INVALID_ARGUMENT, nothing written", async () => {
    const [sizeCode] = await codeAndMessage(chunked(server.clients.connectH2, "/commit-size.bin", content, { expectedSize: BigInt(content.length + 1) }));
    expect(sizeCode).toBe(Code.InvalidArgument);
    const other = sha(content);
    other[0] ^= 1;
    const [digestCode] = await codeAndMessage(
      chunked(server.clients.connectH2, "/commit-digest.bin", content, { expectedDigest: other }, { expectedSha256: sha(content) }),
    );
    expect(digestCode).toBe(Code.InvalidArgument);
    expect(existsSync(onDisk("/commit-size.bin"))).toBe(false);
    expect(existsSync(onDisk("/commit-digest.bin"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});
