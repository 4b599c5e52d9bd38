import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireBlock, BLOCK_BYTES, DIRECT_AFTER_BYTES, directWriteStats, releaseBlock } from "../../direct-io.js";
import { RootFs } from "./root-fs.js";

const dir = mkdtempSync(join(tmpdir(), "podfiles-direct-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fs = new RootFs({ root: dir });

/** Uploads `data` cut into chunks of the sizes `cut` yields; returns how many bytes went direct. */
async function upload(name: string, data: Buffer, cut: (i: number) => number, flushEvery = 0): Promise<number> {
  const before = directWriteStats.directBytes;
  const writer = await fs.createWriter(`/${name}`, { overwrite: "fail", offset: 0n, makeParents: false });
  let at = 0;
  for (let i = 0; at < data.length; i++) {
    const n = Math.min(cut(i), data.length - at);
    // a copy: the writer owns what it is handed
    await writer.write(Buffer.from(data.subarray(at, at + n)));
    at += n;
    if (flushEvery && i % flushEvery === flushEvery - 1) await writer.flush();
  }
  await writer.commit();
  return directWriteStats.directBytes - before;
}

describe("direct writes (O_DIRECT for the bulk of new files)", () => {
  const data = randomBytes(5 * BLOCK_BYTES + 12_345);

  it.each([
    ["1 MiB chunks", () => BLOCK_BYTES],
    ["odd chunks (16 KiB + 5)", () => 16_389],
    ["one 5 MiB chunk then the rest", (i: number) => (i === 0 ? 5 * BLOCK_BYTES : BLOCK_BYTES)],
    ["3-byte to 300 KiB chunks", (i: number) => [3, 300_001, 77_777, 1][i % 4]],
  ])("lands every byte in place with %s, the whole blocks past the first MiB direct", async (label, cut) => {
    const name = `f-${label.replace(/\W+/g, "-")}`;
    const direct = await upload(name, data, cut);
    expect(readFileSync(join(dir, name)).equals(data)).toBe(true);
    // the blocks between DIRECT_AFTER_BYTES (rounded up to 4 KiB) and the tail went direct: at least 3 of the 4 whole MiB past it
    expect(direct).toBeGreaterThanOrEqual(3 * BLOCK_BYTES);
    expect(direct).toBeLessThanOrEqual(data.length - DIRECT_AFTER_BYTES);
  });

  it("keeps a chunked upload's flushes exact (each flush writes the staged tail; the next chunk starts again on a block)", async () => {
    const direct = await upload("flushed", data, () => 700_000, 1);
    expect(readFileSync(join(dir, "flushed")).equals(data)).toBe(true);
    expect(direct).toBeGreaterThan(0);
  });

  it("writes a small file through the page cache only", async () => {
    const small = randomBytes(DIRECT_AFTER_BYTES);
    expect(await upload("small", small, () => 65_536)).toBe(0);
    expect(readFileSync(join(dir, "small")).equals(small)).toBe(true);
  });

  it("falls back to the page cache when every aligned block is taken, and loses nothing", async () => {
    const held: Uint8Array[] = [];
    for (let b = acquireBlock(); b; b = acquireBlock()) held.push(b);
    try {
      expect(await upload("no-blocks", data, () => 100_000)).toBe(0);
      expect(readFileSync(join(dir, "no-blocks")).equals(data)).toBe(true);
    } finally {
      for (const b of held) releaseBlock(b);
    }
  });

  it("an aborted upload leaves nothing and gives its block back", async () => {
    const writer = await fs.createWriter("/aborted", { overwrite: "fail", offset: 0n, makeParents: false });
    await writer.write(Buffer.from(data.subarray(0, 3 * BLOCK_BYTES + 5)));
    await writer.abort();
    expect(readdirSync(dir).filter((n) => n.includes("aborted"))).toEqual([]);
    // every block is free again: as many can be taken as before
    const held: Uint8Array[] = [];
    for (let b = acquireBlock(); b; b = acquireBlock()) held.push(b);
    for (const b of held) releaseBlock(b);
    expect(held.length).toBe(48);
  });
});
