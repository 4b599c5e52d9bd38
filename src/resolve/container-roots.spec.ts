import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { notFound } from "../errors.js";
import { ContainerRoots } from "./container-roots.js";
import type { ContainerProcess, PidSource } from "./container-process.js";
import { FakeProc, ID_A, v2Cgroup } from "./fake-proc.test-util.js";

class MapPids implements PidSource {
  readonly description = "map";
  calls = 0;
  constructor(readonly map: Map<string, ContainerProcess>) {}
  async locate(id: string): Promise<ContainerProcess> {
    this.calls++;
    const p = this.map.get(id);
    if (!p) throw notFound(`no ${id}`);
    return p;
  }
  close() {}
}

describe("ContainerRoots", () => {
  const proc = new FakeProc();
  afterAll(() => proc.cleanup());

  it("caches a root and re-resolves when the PID is reused by another process", async () => {
    const rootA = proc.add({ pid: 500, startTime: 10, cgroup: v2Cgroup(ID_A) });
    writeFileSync(join(rootA, "who"), "first");
    const pids = new MapPids(new Map([[ID_A, { pid: 500, owner: { uid: 1000, gid: 1000 } }]]));
    const roots = new ContainerRoots({ pids, procRoot: proc.dir, strategy: "walk" });
    const fs1 = await roots.get(ID_A);
    expect((await fs1.stat("/who", { followSymlinks: false })).size).toBe(5n);
    expect(await roots.get(ID_A)).toBe(fs1);
    expect(pids.calls).toBe(1);
    expect(roots.stats).toMatchObject({ hits: 1, misses: 1, stale: 0 });

    // the container restarts: PID 500 now belongs to a process started later (same cgroup text
    // would be a worse case; the start time alone catches it)
    proc.remove(500);
    const rootB = proc.add({ pid: 500, startTime: 99, cgroup: v2Cgroup(ID_A) });
    writeFileSync(join(rootB, "who"), "second!");
    const fs2 = await roots.get(ID_A);
    expect(fs2).not.toBe(fs1);
    expect(roots.stats.stale).toBe(1);
    expect((await fs2.stat("/who", { followSymlinks: false })).size).toBe(7n);
    // the stale root is closed: a call still holding it fails instead of reading another root
    await expect(fs1.stat("/who", { followSymlinks: false })).rejects.toMatchObject({ code: "EBADF" });
    await roots.close();
  });

  it("refuses a PID that is not in the container's cgroup", async () => {
    proc.add({ pid: 600, startTime: 10, cgroup: "0::/user.slice\n" });
    const roots = new ContainerRoots({ pids: new MapPids(new Map([[ID_A, { pid: 600, owner: { uid: 0, gid: 0 } }]])), procRoot: proc.dir });
    await expect(roots.get(ID_A)).rejects.toMatchObject({ kind: "unavailable" });
    expect(roots.cachedIds()).toEqual([]);
  });

  it("passes the locator's errors through and shares one lookup between concurrent calls", async () => {
    proc.add({ pid: 700, startTime: 10, cgroup: v2Cgroup(ID_A) });
    const pids = new MapPids(new Map([[ID_A, { pid: 700, owner: { uid: 0, gid: 0 } }]]));
    const roots = new ContainerRoots({ pids, procRoot: proc.dir, strategy: "walk" });
    await expect(roots.get("f".repeat(64))).rejects.toMatchObject({ kind: "not-found" });
    const [a, b] = await Promise.all([roots.get(ID_A), roots.get(ID_A)]);
    expect(a).toBe(b);
    expect(pids.calls).toBe(2);
    await roots.close();
  });
});
