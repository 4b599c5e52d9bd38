// The Node SDK's upload reads its source once: the digest it did not get from the caller (and a
// stream's size) is computed while sending and goes in the UploadTrailer, which the server checks
// before it commits. A real server in this process; an interceptor records what the requests
// carried (and, in one test, plays a server that ignores the trailer and stores altered bytes).
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UploadOptions as WireOptions, UploadRequest, UploadTrailer } from "../../gen/ts/podfiles/v1/files_pb.js";
import { Code, DigestMismatchError, createPodfilesClient, type PodfilesClient } from "../../src/index.js";
import { startTestServer, type TestServer } from "../support/server.js";

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString("hex");

/** What the last Upload carried, as the server's handler got it. */
let seen: { options?: WireOptions; trailers: UploadTrailer[]; dataMessages: number } = { trailers: [], dataMessages: 0 };
let firstData: () => void = () => undefined;
/** Play a server that ignores the trailer and stores a byte altered on the way. */
let ignoreTrailerAndAlter = false;

const recording: Interceptor = (next) => async (req) => {
  if (req.method.name !== "Upload" || !req.stream) return next(req);
  seen = { trailers: [], dataMessages: 0 };
  const inner = req.message as AsyncIterable<UploadRequest>;
  const alter = ignoreTrailerAndAlter;
  return next({
    ...req,
    message: (async function* () {
      for await (const m of inner) {
        if (m.part.case === "header") seen.options = m.part.value.options;
        if (m.part.case === "data" && seen.dataMessages++ === 0) {
          firstData();
          if (alter) m.part.value[3] ^= 1;
        }
        if (m.part.case === "trailer") {
          seen.trailers.push(m.part.value);
          if (alter) continue;
        }
        yield m;
      }
    })(),
  });
};

let server: TestServer;
let client: PodfilesClient;
let work: string;

beforeAll(async () => {
  server = await startTestServer({ interceptors: [recording] });
  client = createPodfilesClient({ baseUrl: server.url, container: server.container });
  work = fs.mkdtempSync(join(tmpdir(), "podfiles-one-pass-"));
});
afterAll(async () => {
  client?.close();
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

/** Bytes this process has read through read(2)-like calls so far (files and sockets alike). */
const readChars = () => Number(/rchar: (\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))?.[1]);

describe("upload reads its source once", () => {
  it("a file: read once, its SHA-256 computed while sending and checked by the server from the trailer", async () => {
    const size = 48 * MiB;
    const data = randomBytes(size);
    const local = join(work, "big.bin");
    fs.writeFileSync(local, data);
    const before = readChars();
    const res = await client.upload(local, "/big.bin");
    const read = readChars() - before;
    // server and client share this process: the server reads the upload from its socket (1×), the
    // client its file (1× now; 2× with the old hashing pass before sending: 3× in all)
    expect(read).toBeGreaterThan(1.9 * size);
    expect(read).toBeLessThan(2.5 * size);
    expect(res.sha256).toBe(sha(data));
    expect(hex(seen.options?.expectedSha256)).toBe("");
    expect(seen.options?.expectedSize).toBe(BigInt(size));
    expect(seen.trailers.map((t) => hex(t.expectedDigest))).toEqual([sha(data)]);
  });

  it("a stream of unknown size and digest: sent as it is read (not spooled first), size and SHA-256 in the trailer", async () => {
    const data = randomBytes(3 * MiB + 17);
    const serverHasFirstChunk = new Promise<void>((resolve) => (firstData = resolve));
    const stream = (async function* () {
      yield data.subarray(0, MiB);
      // the rest only once the server has the first chunk: a client that reads the whole stream before sending never gets here
      await Promise.race([
        serverHasFirstChunk,
        new Promise((_, reject) => setTimeout(() => reject(new Error("the first chunk never reached the server")), 5000)),
      ]);
      yield data.subarray(MiB);
    })();
    const res = await client.upload(stream, "/stream.bin");
    expect(res).toMatchObject({ bytes: data.length, sha256: sha(data) });
    expect(seen.options?.expectedSize).toBeUndefined();
    expect(seen.trailers).toHaveLength(1);
    expect(seen.trailers[0]).toMatchObject({ expectedSize: BigInt(data.length) });
    expect(hex(seen.trailers[0]?.expectedDigest)).toBe(sha(data));
    expect(sha(fs.readFileSync(join(server.root, "stream.bin")))).toBe(sha(data));
  });

  it("CRC-32 goes in the trailer the same way", async () => {
    const data = randomBytes(MiB + 5);
    const res = await client.upload(data, "/crc.bin", { digest: "crc32" });
    expect(res.digestAlgorithm).toBe("crc32");
    expect(seen.trailers.map((t) => hex(t.expectedDigest))).toEqual([res.digest]);
    expect(hex(seen.options?.expectedDigest)).toBe("");
  });

  it("a directory is packed once: the tar's size and digest in the trailer", async () => {
    const dir = join(work, "tree");
    fs.mkdirSync(join(dir, "sub"), { recursive: true });
    fs.writeFileSync(join(dir, "a.txt"), "alpha");
    fs.writeFileSync(join(dir, "sub/b.txt"), "beta");
    const res = await client.uploadDirectory(dir, "/tree", { makeParents: true });
    expect(res.entries).toBeGreaterThanOrEqual(3);
    expect(seen.options?.expectedSize).toBeUndefined();
    expect(seen.trailers).toHaveLength(1);
    expect(seen.trailers[0]?.expectedSize).toBe(BigInt(res.bytes));
    expect(hex(seen.trailers[0]?.expectedDigest)).toBe(res.sha256);
    expect(fs.readFileSync(join(server.root, "tree/sub/b.txt"), "utf8")).toBe("beta");
  });

  it("a given sha256 and size still go in the header (no trailer, nothing hashed here)", async () => {
    const data = randomBytes(MiB);
    await client.upload(data, "/given.bin", { sha256: sha(data) });
    expect(hex(seen.options?.expectedSha256)).toBe(sha(data));
    expect(seen.trailers).toEqual([]);
  });

  it("a server that ignored the trailer and stored other bytes: DigestMismatchError from the client's own digest", async () => {
    ignoreTrailerAndAlter = true;
    try {
      const data = randomBytes(2 * MiB);
      const err = await client.upload(data, "/ignored.bin").catch((x: unknown) => x);
      expect(err).toBeInstanceOf(DigestMismatchError);
      expect(err).toMatchObject({ code: Code.DataLoss, algorithm: "sha256", expected: sha(data) });
    } finally {
      ignoreTrailerAndAlter = false;
    }
  });
});
