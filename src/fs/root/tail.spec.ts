// RootFs.tail without follow: where the last N lines start, across the backward-read chunks.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RootFs } from "./root-fs.js";
import { CHUNK } from "./tail.js";

let dir: string;
let fs: RootFs;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "podfiles-root-tail-"));
  fs = new RootFs({ root: dir });
});
afterAll(async () => {
  await fs.close();
  rmSync(dir, { recursive: true, force: true });
});

async function tail(content: string | Buffer, lines?: number): Promise<string> {
  writeFileSync(join(dir, "f"), content);
  let out = "";
  for await (const c of fs.tail("/f", { lines, follow: false })) out += Buffer.from(c.data).toString("latin1");
  return out;
}

describe("RootFs.tail", () => {
  it("finds the last lines, a final newline or not, empty lines counted", async () => {
    expect(await tail("", 3)).toBe("");
    expect(await tail("\n", 1)).toBe("\n");
    expect(await tail("a\n\n\nb\n", 2)).toBe("\nb\n");
    expect(await tail("a\nb", 1)).toBe("b");
    expect(await tail("a\r\nb\r\n", 1)).toBe("b\r\n");
    expect(await tail("x\n".repeat(15))).toBe("x\n".repeat(10)); // the default 10
  });

  it("finds a newline that sits exactly on a chunk boundary, and a line longer than a chunk", async () => {
    const long = "L".repeat(CHUNK * 2 + 5);
    expect(await tail(`a\n${long}\nb\n`, 2)).toBe(`${long}\nb\n`);
    // the newline before the last line is the first byte of the last backward chunk
    const body = `head\n${"y".repeat(CHUNK - 1)}\n`;
    expect(await tail(body, 1)).toBe(`${"y".repeat(CHUNK - 1)}\n`);
    expect(await tail(Buffer.concat([Buffer.from("p\n"), Buffer.alloc(CHUNK, 0x41), Buffer.from("\nq\n")]), 2)).toBe(`${"A".repeat(CHUNK)}\nq\n`);
  });
});
