// Who a host PID is: its start time (so a reused PID is told apart from the process we resolved)
// and whether its cgroups name a given container ID. Read from <procRoot>/<pid>/{stat,cgroup}
// (procRoot is /proc, or /host/proc in the DaemonSet).
import { readFile } from "node:fs/promises";

export interface ProcIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot; unchanged for the life of the process. */
  startTime: bigint;
}

/** Parses /proc/<pid>/stat text: the start time is the 20th field after the ")" closing comm. */
export function parseStatStartTime(text: string): bigint {
  const close = text.lastIndexOf(")");
  if (close < 0) throw new Error("malformed stat: no ')'");
  // fields after comm begin with field 3 (state); starttime is field 22
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const value = fields[22 - 3];
  if (value === undefined || !/^\d+$/.test(value)) throw new Error("malformed stat: no starttime");
  return BigInt(value);
}

/** Every cgroup path in /proc/<pid>/cgroup text, v1 ("4:memory:/a/b") and v2 ("0::/a/b") lines alike. */
export function parseCgroupPaths(text: string): string[] {
  const paths: string[] = [];
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = first < 0 ? -1 : line.indexOf(":", first + 1);
    if (second < 0) continue;
    paths.push(line.slice(second + 1));
  }
  return paths;
}

/**
 * Whether a cgroup path is the container's own: a path component containing the full ID
 * (cgroupfs driver: ".../<id>"; systemd: "cri-containerd-<id>.scope", "crio-<id>.scope",
 * "docker-<id>.scope").
 */
export function cgroupPathNamesContainer(path: string, containerId: string): boolean {
  if (containerId.length < 12) return false;
  return path.split("/").some((c) => c.includes(containerId));
}

export function cgroupTextNamesContainer(text: string, containerId: string): boolean {
  return parseCgroupPaths(text).some((p) => cgroupPathNamesContainer(p, containerId));
}

const isGone = (err: unknown) => {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" || code === "ESRCH";
};

/** The process's start time, or undefined when it no longer exists. */
export async function readIdentity(procRoot: string, pid: number): Promise<ProcIdentity | undefined> {
  try {
    return { pid, startTime: parseStatStartTime(await readFile(`${procRoot}/${pid}/stat`, "utf8")) };
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}

/**
 * True when `pid` is still the process we resolved: alive, the same start time, and in the
 * container's cgroup. False for a dead, reused or moved PID.
 */
export async function stillContainerProcess(procRoot: string, pid: number, containerId: string, startTime: bigint): Promise<boolean> {
  try {
    const [stat, cgroup] = await Promise.all([readFile(`${procRoot}/${pid}/stat`, "utf8"), readFile(`${procRoot}/${pid}/cgroup`, "utf8")]);
    return parseStatStartTime(stat) === startTime && cgroupTextNamesContainer(cgroup, containerId);
  } catch (err) {
    if (isGone(err)) return false;
    throw err;
  }
}

/** Effective uid and gid of a process (from /proc/<pid>/status), or undefined when gone. */
export async function readProcessOwner(procRoot: string, pid: number): Promise<{ uid: number; gid: number } | undefined> {
  let text: string;
  try {
    text = await readFile(`${procRoot}/${pid}/status`, "utf8");
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
  const field = (name: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${name}:`));
    const effective = line?.split(/\s+/)[2];
    return effective === undefined ? undefined : Number(effective);
  };
  const uid = field("Uid");
  const gid = field("Gid");
  return uid === undefined || gid === undefined ? undefined : { uid, gid };
}

/** The PID inside the process's innermost PID namespace (last NSpid field), or undefined. */
export async function readNamespacePid(procRoot: string, pid: number): Promise<number | undefined> {
  try {
    const text = await readFile(`${procRoot}/${pid}/status`, "utf8");
    const line = text.split("\n").find((l) => l.startsWith("NSpid:"));
    const last = line?.trim().split(/\s+/).pop();
    return last === undefined ? undefined : Number(last);
  } catch (err) {
    if (isGone(err)) return undefined;
    throw err;
  }
}
