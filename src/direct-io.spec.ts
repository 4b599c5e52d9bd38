import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireBlock, BLOCK_BYTES, directWriteStats, openDirect, releaseBlock, SequentialDirectWriter } from "./direct-io.js";

const dir = mkdtempSync(join(tmpdir(), "podfiles-direct-io-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes data[from..] into `file` (holding data[..from] already) in batches of chunks cut as `cut` says. */
async function writeSequential(file: string, data: Buffer, from: number, cut: (i: number) => number, perBatch = 3): Promise<number> {
  const before = directWriteStats.directBytes;
  const fd = openSync(file, "r+");
  const w = new SequentialDirectWriter(fd, from);
  try {
    let batch: Buffer[] = [];
    for (let i = 0, at = from; at < data.length; i++) {
      const n = Math.min(cut(i), data.length - at);
      batch.push(Buffer.from(data.subarray(at, at + n)));
      at += n;
      if (batch.length === perBatch || at === data.length) {
        await w.write(batch);
        batch = [];
      }
    }
    await w.end();
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return directWriteStats.directBytes - before;
}

describe("the aligned blocks", () => {
  it("start on a 4 KiB boundary (O_DIRECT takes them) and are bounded", async () => {
    const file = join(dir, "probe");
    writeFileSync(file, "");
    const fd = openSync(file, "r+");
    const direct = await openDirect(fd);
    expect(direct).toBeDefined();
    const held: Uint8Array[] = [];
    try {
      for (let b = acquireBlock(); b; b = acquireBlock()) held.push(b);
      expect(held.length).toBe(48);
      const { writeSync } = await import("node:fs");
      // every block, at a 4 KiB offset: EINVAL here would mean a misaligned block
      for (const [i, b] of held.entries()) expect(writeSync(direct!, b, 0, 4096, i * 4096)).toBe(4096);
      expect(() => writeSync(direct!, held[0], 1, 4096, 0)).toThrow(/EINVAL/);
    } finally {
      for (const b of held) releaseBlock(b);
      closeSync(direct!);
      closeSync(fd);
    }
  });
});

describe("SequentialDirectWriter", () => {
  const data = randomBytes(4 * BLOCK_BYTES + 54_321);

  it.each([
    ["from 0, 64 KiB chunks", 0, () => 65_536],
    ["from 0, odd chunks", 0, (i: number) => [1, 16_389, 300_000, 7][i % 4]],
    ["resumed at an unaligned offset past the first MiB", BLOCK_BYTES + 4097, () => 100_000],
    ["resumed below the first MiB", 12_345, () => 1_000_000],
  ])("lands every byte in place %s, the aligned bulk direct", async (label, from, cut) => {
    const file = join(dir, label.replace(/\W+/g, "-"));
    writeFileSync(file, data.subarray(0, from));
    const direct = await writeSequential(file, data, from, cut);
    expect(readFileSync(file).equals(data)).toBe(true);
    expect(direct).toBeGreaterThanOrEqual(2 * BLOCK_BYTES);
  });

  it("writes through the page cache when no block is free, losing nothing", async () => {
    const held: Uint8Array[] = [];
    for (let b = acquireBlock(); b; b = acquireBlock()) held.push(b);
    try {
      const file = join(dir, "no-blocks");
      writeFileSync(file, "");
      expect(await writeSequential(file, data, 0, () => 200_000)).toBe(0);
      expect(readFileSync(file).equals(data)).toBe(true);
    } finally {
      for (const b of held) releaseBlock(b);
    }
  });

  it("reports a failed write (a closed descriptor) from write() or end()", async () => {
    const file = join(dir, "closed");
    writeFileSync(file, "");
    const fd = openSync(file, "r+");
    const w = new SequentialDirectWriter(fd, 0);
    closeSync(fd);
    await expect(
      (async () => {
        await w.write([Buffer.alloc(3 * BLOCK_BYTES)]);
        await w.end();
      })(),
    ).rejects.toThrow(/EBADF/);
    await w.end().catch(() => undefined);
  });
});
