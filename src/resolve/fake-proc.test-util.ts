// A fake /proc for unit tests: <dir>/<pid>/{stat,cgroup,status,root/}.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface FakeProcess {
  pid: number;
  startTime: number;
  cgroup: string;
  uid?: number;
  gid?: number;
  nsPid?: number;
  comm?: string;
}

export class FakeProc {
  readonly dir = mkdtempSync(join(tmpdir(), "podfiles-fakeproc-"));

  add(p: FakeProcess): string {
    const d = join(this.dir, String(p.pid));
    mkdirSync(join(d, "root"), { recursive: true });
    const comm = p.comm ?? "sh";
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ...
    writeFileSync(join(d, "stat"), `${p.pid} (${comm}) S 1 1 1 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 ${p.startTime} 1000 10 0 0\n`);
    writeFileSync(join(d, "cgroup"), p.cgroup);
    const uid = p.uid ?? 0;
    const gid = p.gid ?? 0;
    writeFileSync(
      join(d, "status"),
      `Name:\t${comm}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\nGid:\t${gid}\t${gid}\t${gid}\t${gid}\nNSpid:\t${p.pid}${p.nsPid ? `\t${p.nsPid}` : ""}\n`,
    );
    return join(d, "root");
  }

  remove(pid: number): void {
    rmSync(join(this.dir, String(pid)), { recursive: true, force: true });
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export const ID_A = "a".repeat(64);
export const ID_B = "b".repeat(64);
export const v1Cgroup = (id: string) => `12:memory:/kubepods/besteffort/podX/${id}\n11:pids:/kubepods/besteffort/podX/${id}\n0::/\n`;
export const v2Cgroup = (id: string) => `0::/kubepods.slice/kubepods-besteffort.slice/cri-containerd-${id}.scope\n`;
