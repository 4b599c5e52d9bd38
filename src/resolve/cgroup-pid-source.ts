// PidSource without a runtime: scans cgroups (v1 and v2) for the container ID; the owner is the
// effective uid/gid of the container's first process.
import { notFound } from "../errors.js";
import { scanCgroupsForContainer } from "./cgroup-scan.js";
import type { ContainerProcess, PidSource } from "./container-process.js";
import { readProcessOwner } from "./proc-identity.js";

export class CgroupPidSource implements PidSource {
  readonly description: string;

  constructor(readonly procRoot = "/proc") {
    this.description = `cgroup scan of ${procRoot}`;
  }

  async locate(containerId: string): Promise<ContainerProcess> {
    const found = await scanCgroupsForContainer(this.procRoot, containerId);
    const owner = found && (await readProcessOwner(this.procRoot, found.pid));
    if (!found || !owner) throw notFound(`no running process of container ${containerId} found in ${this.procRoot}/*/cgroup`);
    return { pid: found.pid, owner };
  }

  close(): void {}
}
