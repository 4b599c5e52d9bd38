// The Node SDK (src/client) against a real server in this process: listing, stat, verified
// downloads (a tampered chunk, a wrong digest and a short stream all fail with
// DigestMismatchError), downloadToFile with resume, uploads from every source with size and
// SHA-256, overwrite and resume, cancellation, progress, directories as tar.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DownloadResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { Code, DigestMismatchError, FileType, PodfilesError, createPodfilesClient, type PodfilesClient } from "../../src/index.js";
import { startTestServer, type TestServer } from "../support/server.js";

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Server-side tampering of Download responses, switched per test. */
let tamper: "none" | "flip-byte" | "wrong-digest" | "drop-chunk" = "none";
const tampering: Interceptor = (next) => async (req) => {
  const res = await next(req);
  if (!res.stream || req.method.name !== "Download" || tamper === "none") return res;
  const mode = tamper;
  let dropped = false;
  return {
    ...res,
    message: (async function* () {
      for await (const m of res.message as AsyncIterable<DownloadResponse>) {
        if (m.part.case === "data" && mode === "flip-byte") m.part.value[0] ^= 0xff;
        if (m.part.case === "data" && mode === "drop-chunk" && !dropped) {
          dropped = true;
          continue;
        }
        if (m.part.case === "trailer" && mode === "wrong-digest") m.part.value.sha256 = new Uint8Array(32);
        yield m;
      }
    })(),
  };
};

let server: TestServer;
let client: PodfilesClient;
let work: string;
const data = randomBytes(5 * MiB + 4321);

beforeAll(async () => {
  server = await startTestServer({ interceptors: [tampering] });
  client = createPodfilesClient({ baseUrl: server.url, container: server.container });
  work = fs.mkdtempSync(join(tmpdir(), "podfiles-sdk-"));
  fs.writeFileSync(join(server.root, "data.bin"), data);
  fs.writeFileSync(join(server.root, "hello.txt"), "hello");
  fs.mkdirSync(join(server.root, "dir/sub"), { recursive: true });
  fs.writeFileSync(join(server.root, "dir/sub/a.txt"), "a");
  fs.writeFileSync(join(server.root, "dir/.hidden"), "h");
});

afterAll(async () => {
  client?.close();
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

const collect = async (it: AsyncIterable<Uint8Array>) => {
  const chunks: Uint8Array[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks);
};

describe("list and stat", () => {
  it("list is an async iterable of entries; hidden and recursive on request", async () => {
    const names: string[] = [];
    for await (const e of client.list("/dir")) names.push(e.name);
    expect(names.sort()).toEqual(["sub"]);
    const all: string[] = [];
    for await (const e of client.list("/dir", { hidden: true, recursive: true })) all.push(e.path);
    expect(all.sort()).toEqual(["/dir/.hidden", "/dir/sub", "/dir/sub/a.txt"]);
  });

  it("stat returns the entry; a missing path is a PodfilesError with the gRPC code", async () => {
    const e = await client.stat({ container: server.container, path: "/hello.txt" });
    expect(e).toMatchObject({ name: "hello.txt", type: FileType.REGULAR, size: 5n });
    const err = await client.stat("/nope").catch((x: unknown) => x);
    expect(err).toBeInstanceOf(PodfilesError);
    expect(err).toMatchObject({ code: Code.NotFound, codeName: "NOT_FOUND" });
  });

  it("an unknown container and an unreachable server are typed errors too", async () => {
    const other = await client.stat({ container: { namespace: "x", pod: "y" }, path: "/" }).catch((x: unknown) => x);
    expect(other).toMatchObject({ code: Code.NotFound });
    const dead = createPodfilesClient({ baseUrl: "http://127.0.0.1:1", container: server.container });
    try {
      expect(await dead.stat("/").catch((x: unknown) => x)).toMatchObject({ code: Code.Unavailable });
      expect(await collect(dead.download("/hello.txt")).catch((x: unknown) => x)).toMatchObject({ code: Code.Unavailable });
    } finally {
      dead.close();
    }
  });
});

describe("download", () => {
  it("is an async iterable checked against length and SHA-256; info() has the header", async () => {
    const dl = client.download("/data.bin", { chunkSize: 64 * 1024 });
    expect((await dl.info()).length).toBe(data.length);
    expect(sha(await collect(dl))).toBe(sha(data));
    expect(dl.verified).toEqual({ bytes: data.length, sha256: sha(data), digestAlgorithm: "sha256", digest: sha(data) });
  });

  it("as a Node Readable and as a web ReadableStream; offset/length ranges", async () => {
    expect(sha(await collect(client.download("/data.bin").toReadable()))).toBe(sha(data));
    const web = client.download("/data.bin", { offset: 1000, length: 3 * MiB }).toWebStream();
    expect((await collect(web as unknown as AsyncIterable<Uint8Array>)).equals(data.subarray(1000, 1000 + 3 * MiB))).toBe(true);
  });

  it("fails with DigestMismatchError (DATA_LOSS) when a chunk was altered, the digest is wrong or a chunk is missing", async () => {
    try {
      for (const mode of ["flip-byte", "wrong-digest", "drop-chunk"] as const) {
        tamper = mode;
        const err = await collect(client.download("/data.bin")).catch((x: unknown) => x);
        expect(err, mode).toBeInstanceOf(DigestMismatchError);
        expect(err, mode).toMatchObject({ code: Code.DataLoss });
        // the Readable fails too
        const viaStream = await collect(client.download("/data.bin").toReadable()).catch((x: unknown) => x);
        expect(viaStream, mode).toBeInstanceOf(DigestMismatchError);
      }
      // downloadToFile keeps nothing of a mismatched download
      tamper = "flip-byte";
      const local = join(work, "tampered.bin");
      expect(await client.downloadToFile("/data.bin", local).catch((x: unknown) => x)).toBeInstanceOf(DigestMismatchError);
      expect(fs.existsSync(local)).toBe(false);
      expect(fs.existsSync(`${local}.part`)).toBe(false);
    } finally {
      tamper = "none";
    }
  });

  it("downloadToFile writes via .part, reports progress, and resumes a partial file", async () => {
    const local = join(work, "data.bin");
    const seen: number[] = [];
    const r = await client.downloadToFile("/data.bin", local, { onProgress: (p) => seen.push(p.bytes) });
    expect(r).toMatchObject({ size: data.length, offset: 0, sha256: sha(data) });
    expect(sha(fs.readFileSync(local))).toBe(sha(data));
    expect(seen.at(-1)).toBe(data.length);

    const again = join(work, "again.bin");
    fs.writeFileSync(`${again}.part`, data.subarray(0, 2 * MiB + 7));
    const resumed = await client.downloadToFile("/data.bin", again, { resume: true });
    expect(resumed.offset).toBe(2 * MiB + 7);
    expect(sha(fs.readFileSync(again))).toBe(sha(data));
    expect(fs.existsSync(`${again}.part`)).toBe(false);
  });

  it("an AbortSignal cancels a download: CANCELLED", async () => {
    const ac = new AbortController();
    const dl = client.download("/data.bin", { signal: ac.signal, chunkSize: 16 * 1024 });
    const err = await (async () => {
      for await (const _ of dl) ac.abort();
    })().catch((x: unknown) => x);
    expect(err).toMatchObject({ code: Code.Canceled });
  });
});

describe("upload", () => {
  const remote = (name: string) => join(server.root, "up", name);
  beforeAll(() => fs.mkdirSync(join(server.root, "up")));

  it("from bytes, a file path, a Readable and an async iterable; size and SHA-256 checked by the server", async () => {
    const file = join(work, "src.bin");
    fs.writeFileSync(file, data);
    const progress: number[] = [];
    const r1 = await client.upload(data, "/up/bytes.bin", { onProgress: (p) => progress.push(p.bytes) });
    expect(r1).toMatchObject({ bytes: data.length, sha256: sha(data), offset: 0 });
    expect(progress.at(-1)).toBe(data.length);
    await client.upload(file, "/up/path.bin");
    await client.upload(fs.createReadStream(file), "/up/readable.bin");
    async function* gen() {
      yield data.subarray(0, 10);
      yield data.subarray(10);
    }
    await client.upload(gen(), "/up/iterable.bin", { size: data.length, sha256: sha(data) });
    for (const n of ["bytes.bin", "path.bin", "readable.bin", "iterable.bin"]) expect(sha(fs.readFileSync(remote(n))), n).toBe(sha(data));
  });

  it("a stream whose announced SHA-256 is wrong leaves nothing behind", async () => {
    const err = await client.upload(Readable.from([data]), "/up/wrong.bin", { size: data.length, sha256: "00".repeat(32) }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(PodfilesError);
    expect([Code.DataLoss, Code.InvalidArgument]).toContain((err as PodfilesError).code);
    expect(fs.existsSync(remote("wrong.bin"))).toBe(false);
    expect(fs.readdirSync(join(server.root, "up")).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("never replaces a file unless overwrite; makeParents; mode", async () => {
    await client.upload(Buffer.from("one"), "/up/o.txt");
    expect(await client.upload(Buffer.from("two"), "/up/o.txt").catch((x: unknown) => x)).toMatchObject({ code: Code.AlreadyExists });
    await client.upload(Buffer.from("two"), "/up/o.txt", { overwrite: "overwrite", mode: 0o600 });
    expect(fs.readFileSync(remote("o.txt"), "utf8")).toBe("two");
    expect(fs.statSync(remote("o.txt")).mode & 0o777).toBe(0o600);
    expect(await client.upload(Buffer.from("x"), "/up/a/b/c.txt").catch((x: unknown) => x)).toMatchObject({ code: Code.NotFound });
    await client.upload(Buffer.from("x"), "/up/a/b/c.txt", { makeParents: true });
    expect(fs.readFileSync(remote("a/b/c.txt"), "utf8")).toBe("x");
  });

  it("resume appends to a remote partial copy after checking its tail; a different file is refused", async () => {
    const file = join(work, "resume-src.bin");
    fs.writeFileSync(file, data);
    fs.writeFileSync(remote("partial.bin"), data.subarray(0, 3 * MiB + 1));
    const r = await client.upload(file, "/up/partial.bin", { resume: true });
    expect(r).toMatchObject({ offset: 3 * MiB + 1, bytes: data.length - (3 * MiB + 1) });
    expect(sha(fs.readFileSync(remote("partial.bin")))).toBe(sha(data));
    // bytes too
    fs.writeFileSync(remote("partial2.bin"), data.subarray(0, 100));
    expect((await client.upload(data, "/up/partial2.bin", { resume: true })).offset).toBe(100);
    expect(sha(fs.readFileSync(remote("partial2.bin")))).toBe(sha(data));

    const other = Buffer.from(data.subarray(0, MiB));
    other[MiB - 1] ^= 1;
    fs.writeFileSync(remote("other.bin"), other);
    expect(await client.upload(file, "/up/other.bin", { resume: true }).catch((x: unknown) => x)).toMatchObject({ code: Code.FailedPrecondition });
    expect(fs.readFileSync(remote("other.bin")).equals(other)).toBe(true);
  });

  it("an AbortSignal cancels an upload: CANCELLED, nothing committed", async () => {
    const big = randomBytes(64 * MiB);
    const ac = new AbortController();
    const err = await client
      .upload(big, "/up/cancelled.bin", {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.bytes >= 4 * MiB) ac.abort();
        },
      })
      .catch((x: unknown) => x);
    expect(err).toMatchObject({ code: Code.Canceled });
    for (let i = 0; i < 100 && fs.readdirSync(join(server.root, "up")).some((n) => n.includes("cancelled")); i++) await new Promise((r) => setTimeout(r, 20));
    expect(fs.readdirSync(join(server.root, "up")).filter((n) => n.includes("cancelled"))).toEqual([]);
  });

  it("a directory goes up as tar and comes back, and a file is refused where a directory is expected", async () => {
    const src = join(work, "tree");
    fs.mkdirSync(join(src, "bin"), { recursive: true });
    fs.writeFileSync(join(src, "bin/run.sh"), "#!/bin/sh\n", { mode: 0o755 });
    fs.writeFileSync(join(src, "big.bin"), data);
    fs.symlinkSync("big.bin", join(src, "link"));
    const up = await client.uploadDirectory(src, "/trees/one", { makeParents: true });
    expect(up.entries).toBe(4);
    expect(sha(fs.readFileSync(join(server.root, "trees/one/big.bin")))).toBe(sha(data));
    const back = join(work, "tree-back");
    expect(await client.downloadDirectory("/trees/one", back)).toMatchObject({ entries: 4 });
    expect(fs.statSync(join(back, "bin/run.sh")).mode & 0o777).toBe(0o755);
    expect(fs.readlinkSync(join(back, "link"))).toBe("big.bin");
    expect(await client.downloadToFile("/trees/one", join(work, "x")).catch((x: unknown) => x)).toMatchObject({ code: Code.FailedPrecondition });
  });
});
