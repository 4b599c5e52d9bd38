import { afterAll, describe, expect, it } from "vitest";
import { cgroupTextNamesContainer, parseCgroupPaths, parseStatStartTime, readIdentity, readProcessOwner, stillContainerProcess } from "./proc-identity.js";
import { FakeProc, ID_A, ID_B, v1Cgroup, v2Cgroup } from "./fake-proc.test-util.js";

describe("proc identity", () => {
  const proc = new FakeProc();
  afterAll(() => proc.cleanup());

  it("parses the start time even when comm has spaces and parentheses", () => {
    const stat = "42 (a) b (c)) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 987654 1 1\n";
    expect(parseStatStartTime(stat)).toBe(987654n);
  });

  it("reads its own start time from the real /proc", async () => {
    const id = await readIdentity("/proc", process.pid);
    expect(id!.startTime).toBeGreaterThan(0n);
    expect(await readIdentity("/proc", 2 ** 22 + 7)).toBeUndefined();
  });

  it("finds the container ID in cgroup v1 and v2 lines", () => {
    expect(parseCgroupPaths("4:memory:/a/b\n0::/c\n")).toEqual(["/a/b", "/c"]);
    expect(cgroupTextNamesContainer(v1Cgroup(ID_A), ID_A)).toBe(true);
    expect(cgroupTextNamesContainer(v2Cgroup(ID_A), ID_A)).toBe(true);
    expect(cgroupTextNamesContainer(v2Cgroup(ID_A), ID_B)).toBe(false);
    expect(cgroupTextNamesContainer(v2Cgroup(ID_A), "")).toBe(false);
  });

  it("tells a reused PID from the resolved process", async () => {
    proc.add({ pid: 100, startTime: 5000, cgroup: v2Cgroup(ID_A), uid: 1000, gid: 2000 });
    expect(await stillContainerProcess(proc.dir, 100, ID_A, 5000n)).toBe(true);
    expect(await stillContainerProcess(proc.dir, 100, ID_A, 4999n)).toBe(false); // another process, same PID
    expect(await stillContainerProcess(proc.dir, 100, ID_B, 5000n)).toBe(false); // another container
    expect(await stillContainerProcess(proc.dir, 101, ID_A, 5000n)).toBe(false); // gone
    expect(await readProcessOwner(proc.dir, 100)).toEqual({ uid: 1000, gid: 2000 });
  });
});
