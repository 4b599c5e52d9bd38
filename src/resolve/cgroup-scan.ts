// Fallback when no CRI socket answers: find a container's first process by scanning
// <procRoot>/*/cgroup for a cgroup path that names the container ID (cgroup v1 and v2 lines
// alike). Among the processes in the container's cgroup, the one that is PID 1 of its own PID
// namespace is the container's init; else the oldest one.
import { readdir, readFile } from "node:fs/promises";
import { cgroupTextNamesContainer, readIdentity, readNamespacePid, type ProcIdentity } from "./proc-identity.js";

export async function scanCgroupsForContainer(procRoot: string, containerId: string): Promise<ProcIdentity | undefined> {
  const names = await readdir(procRoot);
  const members: number[] = [];
  await Promise.all(
    names
      .filter((n) => /^\d+$/.test(n))
      .map(async (n) => {
        try {
          const text = await readFile(`${procRoot}/${n}/cgroup`, "utf8");
          if (cgroupTextNamesContainer(text, containerId)) members.push(Number(n));
        } catch {
          // the process exited while we scanned
        }
      }),
  );
  let best: { id: ProcIdentity; init: boolean } | undefined;
  for (const pid of members) {
    const [id, nsPid] = await Promise.all([readIdentity(procRoot, pid), readNamespacePid(procRoot, pid)]);
    if (!id) continue;
    const init = nsPid === 1;
    if (!best || (init && !best.init) || (init === best.init && id.startTime < best.id.startTime)) best = { id, init };
  }
  return best?.id;
}
