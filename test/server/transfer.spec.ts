// Round trips through Upload and Download over every protocol, compared by
// SHA-256, plus ranges, tar downloads and the trailer's digest.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync, statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { createServer as createNetServer } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveFormat, FileType } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { downloadAll, hex, random, sha256, uploadAll } from "../support/files.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

const protocols = ["grpc", "connectBinaryH1", "connectH2", "grpcWeb", "connectJson"] as const;
const sizes = [0, 1, 64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024 + 7];

describe.each(protocols)("round trips over %s", (protocol) => {
  it.each(sizes)("%i bytes up and down, equal by SHA-256", async (size) => {
    const client = server.clients[protocol];
    const data = random(size);
    const path = `/rt-${protocol}-${size}.bin`;
    const up = await uploadAll(client, server.container, path, data, { expectedSize: BigInt(size), expectedSha256: Buffer.from(sha256(data), "hex") });
    expect(up.bytesReceived).toBe(BigInt(size));
    expect(hex(up.sha256)).toBe(sha256(data));
    expect(up.entry?.size).toBe(BigInt(size));
    expect(sha256(readFileSync(join(server.root, path)))).toBe(sha256(data));
    const down = await downloadAll(client, server.container, path);
    expect(down.header?.length).toBe(BigInt(size));
    expect(down.header?.entry?.type).toBe(FileType.REGULAR);
    expect(sha256(down.data)).toBe(sha256(data));
    expect(hex(down.trailer?.sha256)).toBe(sha256(data));
    expect(down.trailer?.bytesSent).toBe(BigInt(size));
  });
});

describe("large transfer", () => {
  it("200 MiB of random data round-trips over gRPC", async () => {
    const size = 200 * 1024 * 1024;
    const data = random(size);
    const up = await uploadAll(server.clients.grpc, server.container, "/big.bin", data);
    expect(hex(up.sha256)).toBe(sha256(data));
    const down = await downloadAll(server.clients.grpc, server.container, "/big.bin");
    expect(down.data.length).toBe(size);
    expect(sha256(down.data)).toBe(sha256(data));
    expect(down.messages).toBeGreaterThan(100); // streamed in chunks, not one message
  }, 180_000);
});

describe("Download", () => {
  it("serves ranges for resume, with the digest of the range", async () => {
    const data = random(100_000);
    writeFileSync(join(server.root, "range.bin"), data);
    const got = await downloadAll(server.clients.grpc, server.container, "/range.bin", { offset: 1000n, length: 5000n });
    expect(got.header?.offset).toBe(1000n);
    expect(got.header?.length).toBe(5000n);
    expect(got.data.equals(data.subarray(1000, 6000))).toBe(true);
    expect(hex(got.trailer?.sha256)).toBe(sha256(data.subarray(1000, 6000)));
    const tail = await downloadAll(server.clients.grpc, server.container, "/range.bin", { offset: 99_990n });
    expect(tail.data.equals(data.subarray(99_990))).toBe(true);
    const past = await downloadAll(server.clients.grpc, server.container, "/range.bin", { offset: 100_001n }).catch((e) => ConnectError.from(e));
    expect((past as ConnectError).code).toBe(Code.OutOfRange);
  });

  it("honours the requested chunk size within bounds", async () => {
    writeFileSync(join(server.root, "chunks.bin"), random(1024 * 1024));
    const got = await downloadAll(server.clients.grpc, server.container, "/chunks.bin", { chunkSize: 64 * 1024 });
    expect(got.messages).toBe(1 + 16 + 1);
  });

  it("downloads a directory as a tar stream with modes, owners, mtimes and symlinks", async () => {
    const dir = join(server.root, "tree");
    mkdirSync(join(dir, "sub"), { recursive: true });
    writeFileSync(join(dir, "a.txt"), "alpha", { mode: 0o640 });
    writeFileSync(join(dir, "sub", "b.txt"), "beta");
    writeFileSync(join(dir, ".hidden"), "h");
    symlinkSync("a.txt", join(dir, "link"));
    const got = await downloadAll(server.clients.connectH2, server.container, "/tree");
    expect(got.header?.format).toBe(ArchiveFormat.TAR);
    expect(got.header?.length).toBeUndefined();
    const entries = new Map<string, { header: tar.Header; body: string }>();
    const extract = tar.extract();
    const done = (async () => {
      for await (const entry of extract) {
        const parts: Buffer[] = [];
        for await (const c of entry as AsyncIterable<Buffer>) parts.push(c);
        entries.set(entry.header.name, { header: entry.header, body: Buffer.concat(parts).toString() });
      }
    })();
    extract.end(got.data);
    await done;
    expect([...entries.keys()].sort()).toEqual([".hidden", "a.txt", "link", "sub", "sub/b.txt"]);
    expect(entries.get("a.txt")?.body).toBe("alpha");
    expect(entries.get("a.txt")?.header.mode).toBe(0o640);
    expect(entries.get("a.txt")?.header.uid).toBe(statSync(join(dir, "a.txt")).uid);
    expect(entries.get("a.txt")?.header.mtime?.getTime()).toBe(Math.trunc(statSync(join(dir, "a.txt")).mtimeMs / 1000) * 1000);
    expect(entries.get("link")?.header.type).toBe("symlink");
    expect(entries.get("link")?.header.linkname).toBe("a.txt");
    expect(entries.get("sub/b.txt")?.body).toBe("beta");
    expect(hex(got.trailer?.sha256)).toBe(sha256(got.data));
  });

  it("refuses to download a socket with FAILED_PRECONDITION", async () => {
    const sockPath = join(server.root, "s.sock");
    const sock = createNetServer().listen(sockPath);
    await new Promise((r) => sock.once("listening", r));
    try {
      const err = await downloadAll(server.clients.grpc, server.container, "/s.sock").catch((e) => ConnectError.from(e));
      expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
      expect((err as ConnectError).rawMessage).toMatch(/socket/);
    } finally {
      sock.close();
    }
  });

  it("a cancelled download frees its file handle", async () => {
    writeFileSync(join(server.root, "cancel.bin"), random(32 * 1024 * 1024));
    const abort = new AbortController();
    let received = 0;
    await (async () => {
      for await (const msg of server.clients.grpc.download(
        { container: server.container, path: "/cancel.bin", chunkSize: 64 * 1024 },
        { signal: abort.signal },
      )) {
        if (msg.part.case === "data" && (received += msg.part.value.length) > 1024 * 1024) abort.abort();
      }
    })().catch((e) => expect(ConnectError.from(e).code).toBe(Code.Canceled));
    // the server closes the fd once the stream is torn down
    let fdsAfter = Infinity;
    for (let i = 0; i < 100 && fdsAfter > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      fdsAfter = readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkTarget(fd).endsWith("cancel.bin");
        } catch {
          return false;
        }
      }).length;
    }
    expect(fdsAfter).toBe(0);
  });
});

import { readlinkSync } from "node:fs";
const readlinkTarget = (fd: string) => readlinkSync(`/proc/self/fd/${fd}`);
