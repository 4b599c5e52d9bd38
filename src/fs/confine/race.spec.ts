// A second thread keeps swapping a path between an in-root entry and a symlink pointing out while
// this thread resolves it. No open may ever land outside the root. For the walk this also asserts
// it never *needs* its final verification (EXDEV): its own O_NOFOLLOW steps must hold.
import { closeSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { constants as fsc } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfinedRoot } from "./index.js";

const ITERATIONS = 3000;

// Worker: atomically rename a prepared regular entry or a symlink onto `name`, over and over.
const SWAPPER = `
const { workerData } = require("node:worker_threads");
const fs = require("node:fs");
const { dir, name, makeReal, targets, stop } = workerData;
const flag = new Int32Array(stop);
const p = dir + "/" + name, tmpReal = dir + "/.real", tmpLink = dir + "/.link";
let i = 0;
while (Atomics.load(flag, 0) === 0) {
  try {
    if (i++ % 2 === 0) {
      fs.rmSync(tmpReal, { recursive: true, force: true });
      if (makeReal === "dir") { fs.mkdirSync(tmpReal); fs.writeFileSync(tmpReal + "/secret.txt", "IN-DIR"); }
      else fs.writeFileSync(tmpReal, "IN");
      fs.rmSync(p, { recursive: true, force: true });
      fs.renameSync(tmpReal, p);
    } else {
      fs.rmSync(tmpLink, { force: true });
      fs.symlinkSync(targets[i % targets.length], tmpLink);
      fs.rmSync(p, { recursive: true, force: true });
      fs.renameSync(tmpLink, p);
    }
  } catch {}
}
`;

describe.each(["openat2", "walk"] as const)("races (%s)", (strategy) => {
  let tmp: string;
  let rootDir: string;
  beforeEach(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), "podfiles-race-")));
    rootDir = join(tmp, "root");
    mkdirSync(rootDir);
    mkdirSync(join(tmp, "outside"));
    writeFileSync(join(tmp, "outside", "secret.txt"), "SECRET");
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  async function race(makeReal: "file" | "dir", targets: string[], request: string): Promise<Record<string, number>> {
    const stop = new SharedArrayBuffer(4);
    const worker = new Worker(SWAPPER, { eval: true, workerData: { dir: rootDir, name: makeReal === "dir" ? "d" : "f", makeReal, targets, stop } });
    const root = ConfinedRoot.open(rootDir, { strategy });
    const seen: Record<string, number> = {};
    try {
      await new Promise((r) => setTimeout(r, 20));
      // Enough iterations, and both outcomes seen (the swap really raced the resolution), or 10 s.
      const deadline = Date.now() + 10_000;
      for (let i = 0; i < ITERATIONS || ((seen.ok ?? 0) < 20 && Date.now() < deadline); i++) {
        let fd: number;
        try {
          fd = await root.openFile(request, fsc.O_RDONLY);
        } catch (e) {
          const code = String((e as NodeJS.ErrnoException).code);
          seen[code] = (seen[code] ?? 0) + 1;
          continue;
        }
        try {
          const real = readlinkSync(`/proc/self/fd/${fd}`);
          expect(real.startsWith(rootDir + "/"), `escaped to ${real}`).toBe(true);
          expect(readFileSync(fd, "utf8")).not.toBe("SECRET");
          seen.ok = (seen.ok ?? 0) + 1;
        } finally {
          closeSync(fd);
        }
      }
    } finally {
      Atomics.store(new Int32Array(stop), 0, 1);
      await worker.terminate();
      root.close();
    }
    // Only "not there right now" and "a symlink where none may be followed" are acceptable failures.
    for (const code of Object.keys(seen)) expect(["ok", "ENOENT", "ELOOP", "ENOTDIR"], JSON.stringify(seen)).toContain(code);
    if (process.env.PODFILES_CONFINE_TALLY) console.log(strategy, request, JSON.stringify(seen));
    return seen;
  }

  it("the final component flips between a file and symlinks pointing out", async () => {
    const seen = await race("file", [join(tmp, "outside", "secret.txt"), "../outside/secret.txt", "../../../outside/secret.txt"], "f");
    expect(seen.ok, JSON.stringify(seen)).toBeGreaterThan(0);
  }, 30_000);

  it("a middle directory flips between a directory and symlinks pointing out", async () => {
    const seen = await race("dir", [join(tmp, "outside"), "../outside", "/../../outside"], "d/secret.txt");
    expect(seen.ok, JSON.stringify(seen)).toBeGreaterThan(0);
  }, 30_000);
});
