// A mount that never answers, for tests of hung filesystems: hung-mount.py mounts a FUSE
// filesystem whose server never reads /dev/fuse, so any stat/open below it blocks in the kernel.
// release() kills the python (closing /dev/fuse aborts the connection: stuck syscalls return
// ENOTCONN) and detaches the mount (umount -l).
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("./hung-mount.py", import.meta.url));

export interface HungMount {
  target: string;
  release(): Promise<void>;
}

/** Why a hung mount cannot be made here (undefined when it can): needs root, /dev/fuse and python3. */
export function hungMountUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (mount(2) of a FUSE filesystem)";
  if (!existsSync("/dev/fuse")) return "no /dev/fuse";
  if (spawnSync("python3", ["-c", "pass"]).status !== 0) return "no python3";
  return undefined;
}

/** Mounts a never-answering FUSE filesystem on `target` (an existing empty directory). */
export async function mountHung(target: string): Promise<HungMount> {
  const child = spawn("python3", [script, target], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
    child.once("exit", (code) => reject(new Error(`hung-mount.py exited with ${code}: ${err}`)));
  });
  let released = false;
  return {
    target,
    release: async () => {
      if (released) return;
      released = true;
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGKILL");
        await exited;
      }
      spawnSync("umount", ["-l", target]);
    },
  };
}
