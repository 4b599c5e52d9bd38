import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeRunTempDir, mountsInside, removeRunTempDir, sweepAbandonedRunDirs } from "./run-temp-dir.js";

describe("one temporary directory per test run", () => {
  it("is this worker's os.tmpdir(), named for the vitest process that runs it", () => {
    const name = basename(tmpdir());
    expect(name).toMatch(/^podfiles-test-run-\d+-[A-Za-z0-9]{6}$/);
    expect(Number(/run-(\d+)-/.exec(name)?.[1])).toBe(process.ppid);
  });

  it("removes a run directory with its tree, and keeps one with a mount point inside it", () => {
    const base = mkdtempSync(join(tmpdir(), "runs-"));
    const plain = makeRunTempDir(base);
    mkdirSync(join(plain, "a/b"), { recursive: true });
    writeFileSync(join(plain, "a/b/f"), "x");
    expect(removeRunTempDir(plain)).toBe(true);
    expect(existsSync(plain)).toBe(false);

    const mounted = makeRunTempDir(base);
    const mountPoint = join(mounted, "left mounted");
    mkdirSync(mountPoint);
    execFileSync("mount", ["-t", "tmpfs", "tmpfs", mountPoint]);
    try {
      writeFileSync(join(mountPoint, "not ours"), "keep");
      expect(mountsInside(mounted)).toEqual([mountPoint]);
      expect(removeRunTempDir(mounted)).toBe(false);
      expect(existsSync(join(mountPoint, "not ours"))).toBe(true);
    } finally {
      execFileSync("umount", [mountPoint]);
    }
    expect(removeRunTempDir(mounted)).toBe(true);
  });

  it("sweeps the directories of runs whose process is gone, and nothing else", () => {
    const base = mkdtempSync(join(tmpdir(), "runs-"));
    const gone = spawnSync("true").pid;
    const abandoned = makeRunTempDir(base, gone);
    const live = makeRunTempDir(base, process.pid);
    const other = join(base, `podfiles-test-run-${gone}-not-a-run`);
    mkdirSync(other);
    expect(sweepAbandonedRunDirs(base)).toEqual([basename(abandoned)]);
    expect([existsSync(abandoned), existsSync(live), existsSync(other)]).toEqual([false, true, true]);
  });
});
