// Mounts hung-fuse.py (a FUSE filesystem that never answers) at a directory and tears it down
// again. While it is mounted, every syscall that reaches it (stat, open, readdir below the mount
// point) blocks; the teardown (detach + closing /dev/fuse) fails them with ENOTCONN.
// The test process itself must never touch the mount point while it is up.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const helper = fileURLToPath(new URL("./hung-fuse.py", import.meta.url));

/** Why a hung FUSE mount cannot be made here, or undefined when it can. */
export function fuseUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return `not root (uid ${process.getuid?.()}): mounting FUSE needs root`;
  if (!existsSync("/dev/fuse")) return "/dev/fuse is missing";
  if (!/\tfuse$/m.test(readFileSync("/proc/filesystems", "utf8"))) return "the kernel has no fuse filesystem (/proc/filesystems)";
  return undefined;
}

/** Whether /proc/self/mountinfo lists a mount at exactly this path (field 5, octal escapes decoded). */
export function isMounted(target: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[4]?.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) === target);
}

export interface HungMount {
  target: string;
  child: ChildProcess;
  /** Detaches the mount and ends the FUSE server; stuck syscalls then fail with ENOTCONN. */
  teardown(): Promise<void>;
}

export async function mountHungFuse(target: string): Promise<HungMount> {
  const child = spawn("python3", [helper, target], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!isMounted(target)) {
    if (child.exitCode !== null) throw new Error(`hung-fuse.py exited with ${child.exitCode} before mounting ${target}: ${out}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`hung-fuse.py did not mount ${target} within 10 s: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  let torn = false;
  return {
    target,
    child,
    teardown: async () => {
      if (torn) return;
      torn = true;
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM"); // the helper detaches its mount, then exits
        await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      }
      // -c: no realpath of the target (that would stat into the mount); a no-op once it is gone
      if (isMounted(target)) spawnSync("umount", ["-l", "-c", target], { timeout: 5000 });
      if (isMounted(target)) throw new Error(`${target} is still mounted after the teardown`);
    },
  };
}
