/**
 * Which capabilities the agent needs (deploy/daemonset.yaml): a root process limited with
 * `setpriv --bounding-set` to exactly CHOWN, DAC_OVERRIDE, FOWNER and SYS_PTRACE does every file
 * operation on a real container running as another user, and dropping any one of them breaks
 * the operations listed for it. Needs root and setpriv (util-linux).
 */
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removePod, runPod, startContainerRuntime, type ContainerRuntime, type RunningPod } from "../harness/containers.js";

const PROBE = join(import.meta.dirname, "support/caps-probe.mjs");
const AGENT_CAPS = ["chown", "dac_override", "fowner", "sys_ptrace"];

function probe(caps: string[], pid: number, uid: number): Record<string, string> {
  const bounding = ["-all", ...caps.map((c) => `+${c}`)].join(",");
  const out = execFileSync("setpriv", ["--bounding-set", bounding, "--inh-caps", "-all", process.execPath, PROBE, String(pid), String(uid)], {
    encoding: "utf8",
  });
  return JSON.parse(out) as Record<string, string>;
}

describe("the agent's capabilities, on a real container running as uid 1000", { timeout: 60_000 }, () => {
  let rt: ContainerRuntime;
  let pod: RunningPod;
  let pid: number;

  beforeAll(async () => {
    rt = await startContainerRuntime();
    pod = await runPod({ namespace: "caps", name: "p", containers: [{ name: "app", user: 1000 }, { name: "rooted" }] });
    pid = pod.containers[0]!.pid;
    const root = `/proc/${pid}/root`;
    mkdirSync(`${root}/home/private`, { recursive: true });
    writeFileSync(`${root}/home/private/secret`, "s");
    chmodSync(`${root}/home/private/secret`, 0o600);
    chownSync(`${root}/home/private/secret`, 1000, 1000);
    chmodSync(`${root}/home/private`, 0o700);
    chownSync(`${root}/home/private`, 1000, 1000);
    writeFileSync(`${root}/tmp/theirs`, "t");
    chownSync(`${root}/tmp/theirs`, 1000, 1000);
    // a sticky directory of the container's user holding another user's file
    mkdirSync(`${root}/home/sticky`);
    chownSync(`${root}/home/sticky`, 1000, 1000);
    chmodSync(`${root}/home/sticky`, 0o1777);
    writeFileSync(`${root}/home/sticky/file`, "f");
    chownSync(`${root}/home/sticky/file`, 1001, 1001);
  }, 600_000);

  afterAll(async () => {
    if (pod) await removePod(pod).catch(() => undefined);
    await rt?.stop();
  }, 120_000);

  it("CHOWN + DAC_OVERRIDE + FOWNER + SYS_PTRACE are enough for everything", () => {
    const r = probe(AGENT_CAPS, pid, 1000);
    console.log(`with ${AGENT_CAPS.join(",")}: ${JSON.stringify(r)}`);
    expect(Object.values(r).every((v) => v === "ok")).toBe(true);
  });

  it("each one is needed", () => {
    const table: Record<string, Record<string, string>> = {};
    for (const drop of AGENT_CAPS) {
      const r = probe(
        AGENT_CAPS.filter((c) => c !== drop),
        pid,
        1000,
      );
      table[`without ${drop}`] = Object.fromEntries(Object.entries(r).filter(([, v]) => v !== "ok"));
    }
    console.log(JSON.stringify(table, null, 1));
    expect(Object.keys(table["without sys_ptrace"]!)).toContain("open /proc/<pid>/root");
    expect(Object.keys(table["without dac_override"]!)).toEqual(expect.arrayContaining(["read another user's 0600 file", "create in another user's 0700 dir"]));
    expect(Object.keys(table["without chown"]!)).toEqual(["chown a new file to the container user"]);
    expect(Object.keys(table["without fowner"]!)).toEqual(
      expect.arrayContaining(["chmod another user's file", "move another user's file in their sticky dir"]),
    );
  });

  it("SYS_PTRACE is needed even for a container running as root (its capabilities exceed the agent's)", () => {
    const rooted = pod.containers[1]!.pid;
    expect(probe(AGENT_CAPS, rooted, 0)["open /proc/<pid>/root"]).toBe("ok");
    expect(
      probe(
        AGENT_CAPS.filter((c) => c !== "sys_ptrace"),
        rooted,
        0,
      )["open /proc/<pid>/root"],
    ).toBe("EACCES");
  });

  it("DAC_READ_SEARCH adds nothing once DAC_OVERRIDE is there; without caps nothing works", () => {
    expect(probe([...AGENT_CAPS, "dac_read_search"], pid, 1000)).toEqual(probe(AGENT_CAPS, pid, 1000));
    const none = probe([], pid, 1000);
    expect(none["open /proc/<pid>/root"]).not.toBe("ok");
  });
});
