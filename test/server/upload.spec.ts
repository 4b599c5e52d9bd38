// Uploads appear atomically or not at all: mismatches, bad streams and
// cancellations leave nothing behind; overwrite policies and resume work;
// the chunked unary upload (for browsers) resumes and expires.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveFormat, OverwritePolicy, UploadRequestSchema } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { hex, random, sha256, uploadAll } from "../support/files.js";
import tar from "tar-stream";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => Code[0] as unknown as Code,
    (e) => ConnectError.from(e).code,
  );
/** No temp files and no target: nothing was left behind in dir. */
const leftovers = (dir = server.root) => readdirSync(dir).filter((n) => n.includes(".podfiles-"));

describe("Upload (client stream)", () => {
  const c = () => server.container;
  const grpc = () => server.clients.grpc;

  it("a digest mismatch leaves nothing behind (DATA_LOSS)", async () => {
    const err = await uploadAll(grpc(), c(), "/digest.bin", random(1000), { expectedSha256: new Uint8Array(32) }).catch((e) => ConnectError.from(e));
    expect((err as ConnectError).code).toBe(Code.DataLoss);
    expect((err as ConnectError).rawMessage).toMatch(/SHA-256 mismatch/);
    expect(existsSync(join(server.root, "digest.bin"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("a size mismatch (short or long) leaves nothing behind", async () => {
    expect(await codeOf(uploadAll(grpc(), c(), "/short.bin", random(10), { expectedSize: 11n }))).toBe(Code.InvalidArgument);
    expect(await codeOf(uploadAll(grpc(), c(), "/long.bin", random(12), { expectedSize: 11n }))).toBe(Code.InvalidArgument);
    expect(existsSync(join(server.root, "short.bin")) || existsSync(join(server.root, "long.bin"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("a stream without a header, or with two, is INVALID_ARGUMENT", async () => {
    async function* dataFirst() {
      yield create(UploadRequestSchema, { part: { case: "data", value: new Uint8Array(3) } });
    }
    expect(await codeOf(grpc().upload(dataFirst()))).toBe(Code.InvalidArgument);
    async function* twoHeaders() {
      const header = { container: c(), path: "/two.bin" };
      yield create(UploadRequestSchema, { part: { case: "header", value: header } });
      yield create(UploadRequestSchema, { part: { case: "data", value: new Uint8Array(3) } });
      yield create(UploadRequestSchema, { part: { case: "header", value: header } });
    }
    expect(await codeOf(grpc().upload(twoHeaders()))).toBe(Code.InvalidArgument);
    expect(existsSync(join(server.root, "two.bin"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });

  it("an upload whose client goes away mid-stream leaves no partial file", async () => {
    // A raw HTTP/2 gRPC client, so the connection drops without END_STREAM.
    const session = http2.connect(server.url);
    const stream = session.request({
      ":method": "POST",
      ":path": "/podfiles.v1.FileService/Upload",
      "content-type": "application/grpc+proto",
      te: "trailers",
    });
    const frame = (msg: Parameters<typeof toBinary<typeof UploadRequestSchema>>[1]) => {
      const body = toBinary(UploadRequestSchema, msg);
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(body.length, 1);
      return Buffer.concat([prefix, body]);
    };
    stream.write(frame(create(UploadRequestSchema, { part: { case: "header", value: { container: c(), path: "/cancelled.bin" } } })));
    for (let i = 0; i < 4; i++) stream.write(frame(create(UploadRequestSchema, { part: { case: "data", value: random(256 * 1024) } })));
    // wait until the temp file exists, then cancel
    for (let i = 0; i < 100 && leftovers().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(leftovers().length).toBe(1);
    session.destroy();
    for (let i = 0; i < 100 && leftovers().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(leftovers()).toEqual([]);
    expect(existsSync(join(server.root, "cancelled.bin"))).toBe(false);
  });

  it("a client cancel through the generated client with expected_size never commits a truncated file", async () => {
    const abort = new AbortController();
    async function* slow() {
      yield create(UploadRequestSchema, {
        part: { case: "header", value: { container: c(), path: "/cancelled2.bin", options: { expectedSize: 10_000_000n } } },
      });
      for (let i = 0; i < 4; i++) yield create(UploadRequestSchema, { part: { case: "data", value: random(256 * 1024) } });
      await new Promise((r) => setTimeout(r, 200));
      abort.abort();
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(await codeOf(grpc().upload(slow(), { signal: abort.signal }))).toBe(Code.Canceled);
    for (let i = 0; i < 40 && leftovers().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(leftovers()).toEqual([]);
    expect(existsSync(join(server.root, "cancelled2.bin"))).toBe(false);
  });

  it("fail / overwrite policies, mode and make_parents", async () => {
    await uploadAll(grpc(), c(), "/policy.txt", Buffer.from("one"), { mode: 0o600 });
    expect(statSync(join(server.root, "policy.txt")).mode & 0o777).toBe(0o600);
    expect(await codeOf(uploadAll(grpc(), c(), "/policy.txt", Buffer.from("two")))).toBe(Code.AlreadyExists);
    expect(readFileSync(join(server.root, "policy.txt"), "utf8")).toBe("one");
    await uploadAll(grpc(), c(), "/policy.txt", Buffer.from("three"), { overwrite: OverwritePolicy.OVERWRITE });
    expect(readFileSync(join(server.root, "policy.txt"), "utf8")).toBe("three");
    expect(statSync(join(server.root, "policy.txt")).mode & 0o777).toBe(0o600); // kept on overwrite
    expect(await codeOf(uploadAll(grpc(), c(), "/no/such/dir/f.txt", Buffer.from("x")))).toBe(Code.NotFound);
    const r = await uploadAll(grpc(), c(), "/made/deep/f.txt", Buffer.from("x"), { makeParents: true });
    expect(r.entry?.path).toBe("/made/deep/f.txt");
    expect(statSync(join(server.root, "made/deep/f.txt")).mode & 0o777).toBe(0o644); // never 0777
    mkdirSync(join(server.root, "adir"));
    expect(await codeOf(uploadAll(grpc(), c(), "/adir", Buffer.from("x"), { overwrite: OverwritePolicy.OVERWRITE }))).toBe(Code.FailedPrecondition);
    expect(await codeOf(uploadAll(grpc(), c(), "/m.txt", Buffer.from("x"), { mode: 0o777777 }))).toBe(Code.InvalidArgument);
  });

  it("modified_time sets the file's mtime (new file, overwrite, append, chunked); tar and bad nanos are INVALID_ARGUMENT", async () => {
    const t = { seconds: 1_700_000_000n, nanos: 123_456_789 };
    const mtimeNs = (name: string) => statSync(join(server.root, name), { bigint: true }).mtimeNs;
    const near = (ns: bigint, want: bigint) => expect(Math.abs(Number(ns - want))).toBeLessThan(2000); // a double of seconds: within 2 µs
    const r = await uploadAll(grpc(), c(), "/timed.txt", Buffer.from("one"), { modifiedTime: t });
    near(mtimeNs("timed.txt"), 1_700_000_000_123_456_789n);
    expect(r.entry?.modifyTime?.seconds).toBe(1_700_000_000n);
    await uploadAll(grpc(), c(), "/timed.txt", Buffer.from("two"), {
      overwrite: OverwritePolicy.OVERWRITE,
      modifiedTime: { seconds: 1_600_000_000n, nanos: 0 },
    });
    expect(mtimeNs("timed.txt")).toBe(1_600_000_000_000_000_000n);
    await uploadAll(grpc(), c(), "/timed.txt", Buffer.from("+"), {
      overwrite: OverwritePolicy.APPEND,
      offset: 3n,
      modifiedTime: { seconds: 1_500_000_000n, nanos: 0 },
    });
    expect(readFileSync(join(server.root, "timed.txt"), "utf8")).toBe("two+");
    expect(mtimeNs("timed.txt")).toBe(1_500_000_000_000_000_000n);
    const begin = await server.clients.connectJson.beginUpload({
      container: c(),
      path: "/timed-chunked.txt",
      options: { modifiedTime: { seconds: 1_400_000_000n, nanos: 0 } },
    });
    await server.clients.connectJson.writeUploadChunk({
      container: c(),
      path: "/timed-chunked.txt",
      uploadId: begin.uploadId,
      offset: 0n,
      data: Buffer.from("abc"),
    });
    await server.clients.connectJson.commitUpload({ container: c(), path: "/timed-chunked.txt", uploadId: begin.uploadId });
    expect(mtimeNs("timed-chunked.txt")).toBe(1_400_000_000_000_000_000n);
    expect(await codeOf(uploadAll(grpc(), c(), "/timed-dir", Buffer.alloc(1024), { format: ArchiveFormat.TAR, modifiedTime: t }))).toBe(Code.InvalidArgument);
    expect(await codeOf(uploadAll(grpc(), c(), "/timed-bad.txt", Buffer.from("x"), { modifiedTime: { seconds: 1n, nanos: 1e9 } }))).toBe(Code.InvalidArgument);
    expect(await codeOf(uploadAll(grpc(), c(), "/timed-bad.txt", Buffer.from("x"), { modifiedTime: { seconds: 1n << 62n, nanos: 0 } }))).toBe(
      Code.InvalidArgument,
    );
    expect(existsSync(join(server.root, "timed-bad.txt"))).toBe(false);
  });

  it("append resumes at the file's size and refuses a wrong offset", async () => {
    const data = random(300_000);
    writeFileSync(join(server.root, "resume.bin"), data.subarray(0, 100_000));
    expect(await codeOf(uploadAll(grpc(), c(), "/resume.bin", data.subarray(100_000), { overwrite: OverwritePolicy.APPEND, offset: 99_999n }))).toBe(
      Code.FailedPrecondition,
    );
    const r = await uploadAll(grpc(), c(), "/resume.bin", data.subarray(100_000), { overwrite: OverwritePolicy.APPEND, offset: 100_000n });
    expect(r.entry?.size).toBe(300_000n);
    expect(sha256(readFileSync(join(server.root, "resume.bin")))).toBe(sha256(data));
  });

  it("a failed append truncates back to where it started", async () => {
    writeFileSync(join(server.root, "append-fail.bin"), "base");
    expect(
      await codeOf(
        uploadAll(grpc(), c(), "/append-fail.bin", random(100), { overwrite: OverwritePolicy.APPEND, offset: 4n, expectedSha256: new Uint8Array(32) }),
      ),
    ).toBe(Code.DataLoss);
    expect(readFileSync(join(server.root, "append-fail.bin"), "utf8")).toBe("base");
  });

  it("extracts an uploaded tar stream into a directory", async () => {
    const pack = tar.pack();
    pack.entry({ name: "x/", type: "directory", mode: 0o750 });
    pack.entry({ name: "x/a.txt", mode: 0o4755, mtime: new Date(1_600_000_000_000) }, "alpha");
    pack.entry({ name: "l", type: "symlink", linkname: "x/a.txt" });
    pack.entry({ name: "x/pax.txt", mtime: new Date(1_600_000_000_000), pax: { mtime: "1600000000.123456789" } }, "p");
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const ch of pack as AsyncIterable<Buffer>) parts.push(ch);
    const r = await uploadAll(grpc(), c(), "/extracted", Buffer.concat(parts), { format: ArchiveFormat.TAR, makeParents: true });
    expect(r.entriesExtracted).toBe(4);
    expect(readFileSync(join(server.root, "extracted/x/a.txt"), "utf8")).toBe("alpha");
    expect(statSync(join(server.root, "extracted/x")).mode & 0o777).toBe(0o750);
    expect(statSync(join(server.root, "extracted/x/a.txt")).mode & 0o7777).toBe(0o755); // setuid dropped
    expect(statSync(join(server.root, "extracted/x/a.txt")).mtimeMs).toBe(1_600_000_000_000); // the member's time, as tar x
    const paxNs = statSync(join(server.root, "extracted/x/pax.txt"), { bigint: true }).mtimeNs; // a pax mtime record: to the microsecond at least
    expect(Math.abs(Number(paxNs - 1_600_000_000_123_456_789n))).toBeLessThan(2000);
    expect(readFileSync(join(server.root, "extracted/l"), "utf8")).toBe("alpha");
    expect(await codeOf(uploadAll(grpc(), c(), "/extracted", Buffer.from("not a tar at all".repeat(100)), { format: ArchiveFormat.TAR }))).toBe(
      Code.InvalidArgument,
    );
  });
});

describe("tar upload refused part-way", () => {
  it("answers promptly (ALREADY_EXISTS) while megabytes of the tar are still coming", async () => {
    writeFileSync(join(server.root, "exists.txt"), "keep me");
    const pack = tar.pack();
    pack.entry({ name: "exists.txt" }, "replacement");
    for (let i = 0; i < 8; i++) pack.entry({ name: `big${i}.bin` }, random(512 * 1024));
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const ch of pack as AsyncIterable<Buffer>) parts.push(ch);
    const started = Date.now();
    const code = await codeOf(uploadAll(server.clients.grpc, server.container, "/", Buffer.concat(parts), { format: ArchiveFormat.TAR }, 64 * 1024));
    expect(code).toBe(Code.AlreadyExists);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(readFileSync(join(server.root, "exists.txt"), "utf8")).toBe("keep me");
  }, 30_000);
});

describe("chunked upload (unary calls, for browsers)", () => {
  const c = () => server.container;
  const client = () => server.clients.connectJson;

  it("begin → chunks (with a retried chunk) → query → commit", async () => {
    const data = random(2_500_000);
    const begin = await client().beginUpload({ container: c(), path: "/chunked.bin", options: { expectedSha256: Buffer.from(sha256(data), "hex") } });
    expect(begin.uploadId).toMatch(/^[0-9a-f]{32}$/);
    const step = 1_000_000;
    for (let off = 0; off < data.length; off += step) {
      const r = await client().writeUploadChunk({
        container: c(),
        path: "/chunked.bin",
        uploadId: begin.uploadId,
        offset: BigInt(off),
        data: data.subarray(off, off + step),
      });
      expect(r.committedSize).toBe(BigInt(Math.min(off + step, data.length)));
      if (off === 0) {
        // the same chunk again (a retry after a lost response) is accepted and ignored
        const again = await client().writeUploadChunk({
          container: c(),
          path: "/chunked.bin",
          uploadId: begin.uploadId,
          offset: 0n,
          data: data.subarray(0, step),
        });
        expect(again.committedSize).toBe(BigInt(step));
      }
    }
    const gap = await codeOf(
      client().writeUploadChunk({ container: c(), path: "/chunked.bin", uploadId: begin.uploadId, offset: 9_999_999n, data: new Uint8Array(1) }),
    );
    expect(gap).toBe(Code.FailedPrecondition);
    expect((await client().queryUpload({ container: c(), path: "/chunked.bin", uploadId: begin.uploadId })).committedSize).toBe(BigInt(data.length));
    expect(existsSync(join(server.root, "chunked.bin"))).toBe(false); // not before commit
    const done = await client().commitUpload({ container: c(), path: "/chunked.bin", uploadId: begin.uploadId });
    expect(hex(done.sha256)).toBe(sha256(data));
    expect(sha256(readFileSync(join(server.root, "chunked.bin")))).toBe(sha256(data));
    expect(await codeOf(client().queryUpload({ container: c(), path: "/chunked.bin", uploadId: begin.uploadId }))).toBe(Code.NotFound);
  });

  it("refuses a session used with another path, and abort removes the temp file", async () => {
    const begin = await client().beginUpload({ container: c(), path: "/aborted.bin" });
    await client().writeUploadChunk({ container: c(), path: "/aborted.bin", uploadId: begin.uploadId, offset: 0n, data: random(10) });
    expect(await codeOf(client().writeUploadChunk({ container: c(), path: "/other.bin", uploadId: begin.uploadId, offset: 10n, data: random(10) }))).toBe(
      Code.InvalidArgument,
    );
    expect(leftovers().length).toBe(1);
    await client().abortUpload({ container: c(), path: "/aborted.bin", uploadId: begin.uploadId });
    expect(leftovers()).toEqual([]);
    expect(existsSync(join(server.root, "aborted.bin"))).toBe(false);
  });

  it("an abandoned upload is cleaned up after the idle timeout", async () => {
    const begin = await client().beginUpload({ container: c(), path: "/abandoned.bin" });
    await client().writeUploadChunk({ container: c(), path: "/abandoned.bin", uploadId: begin.uploadId, offset: 0n, data: random(10) });
    expect(leftovers().length).toBe(1);
    expect(await server.uploads.sweep()).toBe(0); // not idle yet
    expect(await server.uploads.sweep(Date.now() + server.uploads.idleTimeoutMs + 1)).toBe(1);
    expect(leftovers()).toEqual([]);
    expect(await codeOf(client().queryUpload({ container: c(), path: "/abandoned.bin", uploadId: begin.uploadId }))).toBe(Code.NotFound);
  });

  it("a commit with a digest mismatch leaves nothing", async () => {
    const begin = await client().beginUpload({ container: c(), path: "/bad-commit.bin", options: { expectedSize: 5n } });
    await client().writeUploadChunk({ container: c(), path: "/bad-commit.bin", uploadId: begin.uploadId, offset: 0n, data: random(4) });
    expect(await codeOf(client().commitUpload({ container: c(), path: "/bad-commit.bin", uploadId: begin.uploadId }))).toBe(Code.InvalidArgument);
    expect(existsSync(join(server.root, "bad-commit.bin"))).toBe(false);
    expect(leftovers()).toEqual([]);
  });
});
