// The browser build (podfiles/web: connect-web's Connect transport) run from Node against a real
// server, over Node's global fetch (undici) — not a browser: it checks the calls, the chunked
// upload and its resume, and the digest checks with the pure-JS SHA-256; what only a browser does
// (CORS, its fetch streams) is left to the web page's browser tests.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BeginUploadRequestSchema, BeginUploadResponseSchema, type BeginUploadRequest, type DownloadResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { Sha256 } from "../../src/client/sha256.js";
import { Code, DigestMismatchError, PodfilesError, createPodfilesWebClient, type PodfilesWebClient } from "../../src/web.js";
import { startTestServer, type TestServer } from "../support/server.js";

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
let flip = false;
const tampering: Interceptor = (next) => async (req) => {
  const res = await next(req);
  if (!res.stream || !flip) return res;
  return {
    ...res,
    message: (async function* () {
      for await (const m of res.message as AsyncIterable<DownloadResponse>) {
        if (m.part.case === "data") m.part.value[m.part.value.length - 1] ^= 1;
        yield m;
      }
    })(),
  };
};

let server: TestServer;
let web: PodfilesWebClient;
const data = randomBytes(3 * MiB + 17);

beforeAll(async () => {
  server = await startTestServer({ interceptors: [tampering] });
  web = createPodfilesWebClient({ baseUrl: server.url, container: server.container });
  fs.writeFileSync(join(server.root, "data.bin"), data);
  fs.mkdirSync(join(server.root, "up"));
});

afterAll(async () => {
  await server?.close();
});

const collect = async (it: AsyncIterable<Uint8Array>) => {
  const chunks: Uint8Array[] = [];
  for await (const c of it) chunks.push(c);
  return Buffer.concat(chunks);
};

describe("sha256.ts", () => {
  it("equals node:crypto's SHA-256 for sizes around the 64-byte block and fed in odd pieces", () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]) {
      const b = randomBytes(n);
      const h = new Sha256();
      for (let at = 0; at < n; at += 37) h.update(b.subarray(at, at + 37));
      expect(Buffer.from(h.digest()).toString("hex"), String(n)).toBe(sha(b));
    }
  });
});

describe("podfiles/web over Node's fetch", () => {
  it("lists, stats and downloads (verified) like the Node client", async () => {
    const names: string[] = [];
    for await (const e of web.list("/")) names.push(e.name);
    expect(names).toContain("data.bin");
    expect((await web.stat("/data.bin")).size).toBe(BigInt(data.length));
    expect(await web.stat("/nope").catch((x: unknown) => x)).toMatchObject({ code: Code.NotFound });
    const dl = web.download("/data.bin");
    expect(sha(await collect(dl))).toBe(sha(data));
    expect(sha(await collect(web.download("/data.bin").toWebStream() as unknown as AsyncIterable<Uint8Array>))).toBe(sha(data));
  });

  it("a tampered download fails with DigestMismatchError", async () => {
    flip = true;
    try {
      expect(await collect(web.download("/data.bin")).catch((x: unknown) => x)).toBeInstanceOf(DigestMismatchError);
    } finally {
      flip = false;
    }
  });

  it("upload is the chunked BeginUpload / WriteUploadChunk / CommitUpload, from a Blob or bytes", async () => {
    const seen: number[] = [];
    const r = await web.upload(new Blob([data]), "/up/blob.bin", { chunkSize: 256 * 1024, onProgress: (p) => seen.push(p.bytes) });
    expect(r).toMatchObject({ bytes: data.length, sha256: sha(data) });
    expect(seen.length).toBe(Math.ceil(data.length / (256 * 1024)));
    expect(sha(fs.readFileSync(join(server.root, "up/blob.bin")))).toBe(sha(data));
    expect(await web.upload(data, "/up/blob.bin").catch((x: unknown) => x)).toMatchObject({ code: Code.AlreadyExists });
    await web.upload(data.subarray(0, 5), "/up/blob.bin", { overwrite: "overwrite" });
    expect(fs.readFileSync(join(server.root, "up/blob.bin")).equals(data.subarray(0, 5))).toBe(true);
  });

  /** A Blob that counts the bytes read through its slices. */
  const countingBlob = (bytes: Uint8Array) => {
    const counter = { read: 0 };
    const blob = new Blob([bytes]);
    const slice = blob.slice.bind(blob);
    blob.slice = (start?: number, end?: number) => {
      const part = slice(start, end);
      counter.read += part.size;
      return part;
    };
    return { blob, counter };
  };

  it("reads a Blob once: each chunk is hashed while it is sent and the SHA-256 goes with CommitUpload (the old SDK read it twice)", async () => {
    const { blob, counter } = countingBlob(data);
    const r = await web.upload(blob, "/up/once.bin", { chunkSize: 256 * 1024 });
    expect(r.sha256).toBe(sha(data));
    expect(counter.read).toBe(data.length);
    expect(sha(fs.readFileSync(join(server.root, "up/once.bin")))).toBe(sha(data));
  });

  it("against a server that does not check CommitUpload's trailer: the digest first, then BeginUpload with it", async () => {
    const begins: BeginUploadRequest[] = [];
    const oldServer: typeof fetch = async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      const res = await fetch(input, init);
      if (!url.endsWith("/BeginUpload") || !res.ok) return res;
      // the answer as a server from before the field gives it (binary Connect: the message itself)
      begins.push(fromBinary(BeginUploadRequestSchema, new Uint8Array(init?.body as ArrayBuffer)));
      const answer = fromBinary(BeginUploadResponseSchema, new Uint8Array(await res.arrayBuffer()));
      answer.commitChecksTrailer = false;
      return new Response(toBinary(BeginUploadResponseSchema, answer), { status: res.status, headers: res.headers });
    };
    const client = createPodfilesWebClient({ baseUrl: server.url, container: server.container, fetch: oldServer });
    const { blob, counter } = countingBlob(data);
    const r = await client.upload(blob, "/up/old-server.bin", { chunkSize: 256 * 1024 });
    expect(r.sha256).toBe(sha(data));
    expect(counter.read).toBe(2 * data.length);
    // the first session (no digest) was given back, the second carried the SHA-256
    expect(begins).toHaveLength(2);
    expect(begins.map((b) => Buffer.from(b.options?.expectedSha256 ?? []).toString("hex"))).toEqual(["", sha(data)]);
    expect(sha(fs.readFileSync(join(server.root, "up/old-server.bin")))).toBe(sha(data));
    expect(fs.readdirSync(join(server.root, "up")).filter((n) => n.includes(".podfiles-"))).toEqual([]);
  });

  it("resumes an interrupted upload from its session (uploadId), sending only the rest", async () => {
    let id = "";
    const ac = new AbortController();
    const err = await web
      .upload(data, "/up/resumed.bin", {
        chunkSize: 256 * 1024,
        signal: ac.signal,
        onSession: (s) => (id = s),
        onProgress: (p) => {
          if (p.bytes >= MiB) ac.abort();
        },
      })
      .catch((x: unknown) => x);
    expect(err).toMatchObject({ code: Code.Canceled });
    expect(fs.existsSync(join(server.root, "up/resumed.bin"))).toBe(false);
    const sent: number[] = [];
    const r = await web.upload(data, "/up/resumed.bin", { chunkSize: 256 * 1024, uploadId: id, onProgress: (p) => sent.push(p.bytes) });
    expect(r.offset).toBe(MiB);
    expect(sent.at(-1)).toBe(data.length - MiB);
    expect(sha(fs.readFileSync(join(server.root, "up/resumed.bin")))).toBe(sha(data));
  });

  it("retries a chunk whose answer was lost (the server had it: the repeat is idempotent)", async () => {
    let writes = 0;
    const flaky: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input instanceof Request ? input.url : input).endsWith("/WriteUploadChunk") && ++writes === 2) {
        await res.arrayBuffer();
        throw new TypeError("fetch failed (the test dropped this answer)");
      }
      return res;
    };
    const client = createPodfilesWebClient({ baseUrl: server.url, container: server.container, fetch: flaky });
    const r = await client.upload(data, "/up/flaky.bin", { chunkSize: 512 * 1024 });
    expect(writes).toBeGreaterThan(Math.ceil(data.length / (512 * 1024)) - 1);
    expect(r.bytes).toBe(data.length);
    expect(sha(fs.readFileSync(join(server.root, "up/flaky.bin")))).toBe(sha(data));
    // without a retry budget the same loss is an error, typed
    writes = 0;
    const err = await client.upload(data, "/up/flaky2.bin", { chunkSize: 512 * 1024, retries: 0 }).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(PodfilesError);
  });
});
