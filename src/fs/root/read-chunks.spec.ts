import { fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { ReadFd, readChunks } from "./read-chunks.js";

const dir = mkdtempSync(join(tmpdir(), "podfiles-read-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const isOpen = (fd: number) => {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
};

describe("ReadFd", () => {
  it("closes only after the read in flight finished, and refuses reads after close", async () => {
    const file = join(dir, "a.bin");
    writeFileSync(file, randomBytes(1 << 20));
    const rfd = new ReadFd(openSync(file, "r"));
    const pending = rfd.read(Buffer.alloc(1 << 20), 0, 1 << 20, 0n);
    rfd.close();
    expect(isOpen(rfd.fd)).toBe(true); // the threadpool still reads it
    expect(await pending).toBe(1 << 20);
    expect(isOpen(rfd.fd)).toBe(false);
    await expect(rfd.read(Buffer.alloc(1), 0, 1, 0n)).rejects.toThrow(/after close/);
    rfd.close(); // idempotent
  });
});

describe("readChunks", () => {
  const data = randomBytes(5 * 65536 + 123);
  const file = join(dir, "b.bin");
  writeFileSync(file, data);

  it("reads a range in chunks, one ahead, and closes the fd at the end", async () => {
    const rfd = new ReadFd(openSync(file, "r"));
    const chunks: Buffer[] = [];
    for await (const c of readChunks(rfd, 1000n, BigInt(data.length - 2000), 65536)) chunks.push(Buffer.from(c));
    expect(chunks.map((c) => c.length)).toEqual([65536, 65536, 65536, 65536, 65536 + 123 - 2000]);
    expect(Buffer.concat(chunks).equals(data.subarray(1000, data.length - 1000))).toBe(true);
    expect(isOpen(rfd.fd)).toBe(false);
  });

  it("a consumer that stops early leaves no read running on a closed fd", async () => {
    const rfd = new ReadFd(openSync(file, "r"));
    for await (const c of readChunks(rfd, 0n, BigInt(data.length), 65536)) {
      expect(c.length).toBe(65536);
      break; // the read-ahead of the second chunk is in flight now
    }
    expect(isOpen(rfd.fd)).toBe(false);
  });

  it("stops early when the file is shorter than asked (it shrank)", async () => {
    const rfd = new ReadFd(openSync(file, "r"));
    let total = 0;
    for await (const c of readChunks(rfd, 0n, BigInt(data.length + 100_000), 65536)) total += c.length;
    expect(total).toBe(data.length);
  });
});

describe("readChunks abandoned with its fd closed", () => {
  it("leaves no unhandled rejection behind when the read-ahead fails and nobody resumes the generator", async () => {
    // The shape that killed the server (found by test/hostile/random-trees.spec.ts on Node 24): a tar
    // entry's consumer stops on a destroyed sink without returning the generator while the fd is
    // closed under the next read-ahead ("read after close").
    const file = join(dir, "abandoned.bin");
    writeFileSync(file, randomBytes(3 << 16));
    const rfd = new ReadFd(openSync(file, "r"));
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const chunks = readChunks(rfd, 0n, BigInt(3 << 16), 1 << 16);
      const first = chunks.next(); // starts the read of chunk 1
      rfd.close(); // closing while it is in flight: the read-ahead of chunk 2 is refused
      expect((await first).done).toBe(false);
      await new Promise((r) => setTimeout(r, 50)); // the generator is never resumed
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });
});
