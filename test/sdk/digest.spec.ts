// Issue #16 in the SDKs: `digest: "sha256" | "crc32" | "none"` on download and upload, for the
// Node client (its own gRPC fast paths) and the web client (Connect over fetch; the chunked
// upload; the pure-JS hashers). The digest is checked on the client: a byte altered on the way
// fails with DigestMismatchError naming the algorithm (with none, only a size change is caught);
// against a server from before the choice (emulated: an interceptor that drops the field from
// requests and responses, as such a server never reads or writes it, and refuses the UploadTrailer
// with that server's words) the client falls back to SHA-256, and an upload that asked for CRC-32
// is not silently reported as checked.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { ConnectError, type Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DigestAlgorithm, type DownloadRequest, type DownloadResponse, type UploadRequest, type UploadResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { Code, DigestMismatchError, PodfilesError, createPodfilesClient, type PodfilesClient } from "../../src/index.js";
import { createPodfilesWebClient, type PodfilesWebClient } from "../../src/web.js";
import { startTestServer, type TestServer } from "../support/server.js";

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const crc = (b: Uint8Array) => crc32(b).toString(16).padStart(8, "0");

let tamper: "none" | "flip-byte" | "drop-chunk" = "none";
const tampering: Interceptor = (next) => async (req) => {
  const res = await next(req);
  if (!res.stream || req.method.name !== "Download" || tamper === "none") return res;
  const mode = tamper;
  let dropped = false;
  return {
    ...res,
    message: (async function* () {
      for await (const m of res.message as AsyncIterable<DownloadResponse>) {
        if (m.part.case === "data" && mode === "flip-byte") m.part.value[7] ^= 0x01;
        if (m.part.case === "data" && mode === "drop-chunk" && !dropped) {
          dropped = true;
          continue;
        }
        yield m;
      }
    })(),
  };
};

/** A server from before DigestAlgorithm: it never sees the field in requests, and never sets it in responses. */
const beforeTheChoice: Interceptor = (next) => async (req) => {
  if (req.method.name === "Download" && req.stream) {
    const inner = req.message as AsyncIterable<DownloadRequest>;
    req = {
      ...req,
      message: (async function* () {
        for await (const m of inner) yield { ...m, digestAlgorithm: DigestAlgorithm.UNSPECIFIED };
      })(),
    };
  }
  if (req.method.name === "Upload" && req.stream) {
    const inner = req.message as AsyncIterable<UploadRequest>;
    req = {
      ...req,
      message: (async function* () {
        for await (const m of inner) {
          if (m.part.case === "header" && m.part.value.options) Object.assign(m.part.value.options, { digestAlgorithm: 0, expectedDigest: new Uint8Array(0) });
          if (m.part.case === "trailer") throw new ConnectError("only data messages may follow the Upload header", Code.InvalidArgument);
          yield m;
        }
      })(),
    };
  }
  const res = await next(req);
  if (res.stream && req.method.name === "Download") {
    const inner = res.message as AsyncIterable<DownloadResponse>;
    return {
      ...res,
      message: (async function* () {
        for await (const m of inner) {
          if (m.part.case === "header") m.part.value.digestAlgorithm = DigestAlgorithm.UNSPECIFIED;
          if (m.part.case === "trailer") Object.assign(m.part.value, { digestAlgorithm: 0, digest: new Uint8Array(0) });
          yield m;
        }
      })(),
    };
  }
  if (!res.stream && req.method.name === "Upload") Object.assign(res.message as UploadResponse, { digestAlgorithm: 0, digest: new Uint8Array(0) });
  return res;
};

let server: TestServer;
let old: TestServer;
let client: PodfilesClient;
let oldClient: PodfilesClient;
let web: PodfilesWebClient;
let work: string;
const data = randomBytes(3 * MiB + 4321);

beforeAll(async () => {
  server = await startTestServer({ interceptors: [tampering] });
  old = await startTestServer({ root: server.root, interceptors: [beforeTheChoice] });
  client = createPodfilesClient({ baseUrl: server.url, container: server.container });
  oldClient = createPodfilesClient({ baseUrl: old.url, container: old.container });
  web = createPodfilesWebClient({ baseUrl: server.url, container: server.container });
  work = fs.mkdtempSync(join(tmpdir(), "podfiles-digest-"));
  fs.writeFileSync(join(server.root, "data.bin"), data);
});
afterAll(async () => {
  client?.close();
  oldClient?.close();
  await old?.close();
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const collect = async (it: AsyncIterable<Uint8Array>) => {
  const chunks: Uint8Array[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks);
};

const algorithms = [
  { digest: "sha256" as const, hex: sha, label: "SHA-256" },
  { digest: "crc32" as const, hex: crc, label: "CRC-32" },
  { digest: "none" as const, hex: () => "", label: "" },
];

describe.each([
  { name: "Node client", dl: () => client },
  { name: "web client", dl: () => web },
])("download, $name", ({ dl }) => {
  it.each(algorithms)("digest $digest: checked, reported in info() and verified", async ({ digest, hex }) => {
    const stream = dl().download("/data.bin", { digest });
    expect((await stream.info()).digestAlgorithm).toBe(digest);
    expect(sha(await collect(stream))).toBe(sha(data));
    expect(stream.verified).toEqual({ bytes: data.length, digestAlgorithm: digest, digest: hex(data), sha256: digest === "sha256" ? sha(data) : "" });
  });

  it.each(algorithms.filter((a) => a.digest !== "none"))(
    "digest $digest: an altered byte is a DigestMismatchError naming the algorithm",
    async ({ digest, label }) => {
      tamper = "flip-byte";
      try {
        const err = await collect(dl().download("/data.bin", { digest })).catch((x: unknown) => x);
        expect(err).toBeInstanceOf(DigestMismatchError);
        expect(err).toMatchObject({ code: Code.DataLoss, algorithm: digest });
        expect((err as Error).message).toContain(`${label} mismatch`);
      } finally {
        tamper = "none";
      }
    },
  );

  it("digest none: a missing chunk is still caught (sizes are checked)", async () => {
    tamper = "drop-chunk";
    try {
      expect(await collect(dl().download("/data.bin", { digest: "none" })).catch((x: unknown) => x)).toBeInstanceOf(DigestMismatchError);
    } finally {
      tamper = "none";
    }
  });

  it("an unknown digest is INVALID_ARGUMENT before any call", async () => {
    // @ts-expect-error: JavaScript callers can pass anything
    expect(() => dl().download("/data.bin", { digest: "md5" })).toThrow(/digest "md5": use sha256, crc32 or none/);
  });
});

describe("upload", () => {
  it.each(algorithms)("Node client, digest $digest: from a file, bytes and a stream; the result names the digest", async ({ digest, hex }) => {
    const local = join(work, `src-${digest}.bin`);
    fs.writeFileSync(local, data);
    const want = { digestAlgorithm: digest, digest: hex(data), sha256: digest === "sha256" ? sha(data) : "" };
    expect(await client.upload(local, `/up/${digest}-file.bin`, { digest, makeParents: true })).toMatchObject({ bytes: data.length, ...want });
    expect(await client.upload(data, `/up/${digest}-bytes.bin`, { digest })).toMatchObject(want);
    const stream = (async function* () {
      yield data.subarray(0, MiB);
      yield data.subarray(MiB);
    })();
    expect(await client.upload(stream, `/up/${digest}-stream.bin`, { digest, size: digest === "none" ? data.length : undefined })).toMatchObject(want);
    for (const k of ["file", "bytes", "stream"]) expect(sha(fs.readFileSync(join(server.root, `up/${digest}-${k}.bin`)))).toBe(sha(data));
  });

  it.each(algorithms)("web client (chunked), digest $digest", async ({ digest, hex }) => {
    const r = await web.upload(data, `/up/${digest}-web.bin`, { digest, chunkSize: MiB });
    expect(r).toMatchObject({ bytes: data.length, digestAlgorithm: digest, digest: hex(data), sha256: digest === "sha256" ? sha(data) : "" });
    expect(sha(fs.readFileSync(join(server.root, `up/${digest}-web.bin`)))).toBe(sha(data));
  });

  it("a known sha256 with another digest is INVALID_ARGUMENT", async () => {
    const err = await client.upload(data, "/up/never.bin", { digest: "crc32", sha256: sha(data) }).catch((x: unknown) => x);
    expect(err).toMatchObject({ code: Code.InvalidArgument });
    expect(fs.existsSync(join(server.root, "up/never.bin"))).toBe(false);
  });
});

describe("a server from before the digest choice", () => {
  it("download: asked for CRC-32, the client checks the SHA-256 it sends instead", async () => {
    const stream = oldClient.download("/data.bin", { digest: "crc32" });
    expect(sha(await collect(stream))).toBe(sha(data));
    expect(stream.verified).toMatchObject({ digestAlgorithm: "sha256", sha256: sha(data) });
  });

  it("upload: refused the trailer, a file, bytes and a directory are sent again the old way (digest first); sha256 works as before", async () => {
    const local = join(work, "old-src.bin");
    fs.writeFileSync(local, data);
    expect(await oldClient.upload(local, "/old/file.bin", { makeParents: true })).toMatchObject({ digestAlgorithm: "sha256", sha256: sha(data) });
    expect(await oldClient.upload(data, "/old/a.bin", { makeParents: true })).toMatchObject({ digestAlgorithm: "sha256", sha256: sha(data) });
    fs.mkdirSync(join(work, "old-tree"), { recursive: true });
    fs.writeFileSync(join(work, "old-tree/t.txt"), "tree");
    expect((await oldClient.uploadDirectory(join(work, "old-tree"), "/old/tree", { makeParents: true })).entries).toBeGreaterThanOrEqual(1);
    expect(fs.readFileSync(join(server.root, "old/tree/t.txt"), "utf8")).toBe("tree");
    for (const k of ["file", "a"]) expect(sha(fs.readFileSync(join(server.root, `old/${k}.bin`)))).toBe(sha(data));
  });

  it("upload: asked for CRC-32 (which it cannot check) the client says so", async () => {
    const err = await oldClient.upload(data, "/old/b.bin", { digest: "crc32" }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(PodfilesError);
    expect(err).toMatchObject({ code: Code.FailedPrecondition });
    expect((err as Error).message).toMatch(/asked for CRC-32, the server computed SHA-256/);
  });

  it("upload: a stream of unknown digest (its digest can only go in the trailer) fails saying why, nothing written", async () => {
    const stream = (async function* () {
      yield data;
    })();
    const err = await oldClient.upload(stream, "/old/stream.bin", { size: data.length }).catch((x: unknown) => x);
    expect(err).toMatchObject({ code: Code.FailedPrecondition });
    expect((err as Error).message).toMatch(/server predates the upload trailer/);
    expect(fs.existsSync(join(server.root, "old/stream.bin"))).toBe(false);
    const given = (async function* () {
      yield data;
    })();
    expect(await oldClient.upload(given, "/old/stream.bin", { size: data.length, sha256: sha(data) })).toMatchObject({ sha256: sha(data) });
  });
});
