// RootFs.find and diskUsage: cancellation mid-walk, and a FIFO met while digesting.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RootFs } from "./root-fs.js";

let dir: string;
let fs: RootFs;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "podfiles-root-find-"));
  for (let d = 0; d < 20; d++) {
    mkdirSync(join(dir, `t/d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(dir, `t/d${d}/f${f}`), "");
  }
  execFileSync("mkfifo", [join(dir, "t/pipe")]);
  fs = new RootFs({ root: dir });
});
afterAll(async () => {
  await fs.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("RootFs.find / diskUsage", () => {
  it("stop when the signal aborts, mid-walk", async () => {
    const abort = new AbortController();
    let seen = 0;
    const walking = (async () => {
      for await (const _ of fs.find("/t", { maxDepth: 0, limit: 0, signal: abort.signal })) if (++seen === 50) abort.abort();
    })();
    await expect(walking).rejects.toThrow(/abort/i);
    expect(seen).toBeLessThan(200);
    const du = new AbortController();
    du.abort();
    await expect(
      (async () => {
        for await (const _ of fs.diskUsage("/t", { maxDepth: 0, apparentSize: false, signal: du.signal })) void _;
      })(),
    ).rejects.toThrow(/abort/i);
  });

  it("digests regular files only: the FIFO is reported without one, and nothing blocks", async () => {
    const out = new Map<string, number>();
    for await (const m of fs.find("/t", { maxDepth: 1, limit: 0, digest: "crc32" })) out.set(m.entry.path, m.digest?.length ?? 0);
    expect(out.get("/t/pipe")).toBe(0);
    expect(out.get("/t/d0")).toBe(0);
  });
});
