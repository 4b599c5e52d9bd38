import { afterAll, describe, expect, it } from "vitest";
import { scanCgroupsForContainer } from "./cgroup-scan.js";
import { CgroupPidSource } from "./cgroup-pid-source.js";
import { FakeProc, ID_A, ID_B, v1Cgroup, v2Cgroup } from "./fake-proc.test-util.js";

describe("cgroup scan", () => {
  const proc = new FakeProc();
  afterAll(() => proc.cleanup());
  proc.add({ pid: 1, startTime: 1, cgroup: "0::/init.scope\n" });
  // container A (v1 layout): init is pid 1 in its namespace; a child started earlier? no — later
  proc.add({ pid: 300, startTime: 900, cgroup: v1Cgroup(ID_A), nsPid: 7 });
  proc.add({ pid: 200, startTime: 800, cgroup: v1Cgroup(ID_A), nsPid: 1, uid: 1000, gid: 1000 });
  // container B (v2 layout), no PID namespace of its own: the oldest process wins
  proc.add({ pid: 410, startTime: 1200, cgroup: v2Cgroup(ID_B) });
  proc.add({ pid: 400, startTime: 1100, cgroup: v2Cgroup(ID_B), uid: 33, gid: 33 });

  it("finds the init process of a container in cgroup v1", async () => {
    expect((await scanCgroupsForContainer(proc.dir, ID_A))?.pid).toBe(200);
  });

  it("finds the oldest process of a container in cgroup v2", async () => {
    expect((await scanCgroupsForContainer(proc.dir, ID_B))?.pid).toBe(400);
  });

  it("locates with the process's owner, NOT_FOUND for an unknown ID", async () => {
    const src = new CgroupPidSource(proc.dir);
    expect(await src.locate(ID_A)).toEqual({ pid: 200, owner: { uid: 1000, gid: 1000 } });
    expect(await src.locate(ID_B)).toEqual({ pid: 400, owner: { uid: 33, gid: 33 } });
    await expect(src.locate("c".repeat(64))).rejects.toMatchObject({ kind: "not-found" });
  });
});
