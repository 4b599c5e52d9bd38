/**
 * One temporary directory per test run, a vitest globalSetup (both configs). Setup makes
 * `<tmpdir>/podfiles-test-run-<pid>-XXXXXX` and points TMPDIR at it, so the workers' os.tmpdir(), and
 * that of every server, CLI and Chromium they start with the inherited environment, lies inside it;
 * teardown removes it.
 *
 * Why: suites make their own mkdtemp directories and many never remove them. page.spec alone leaves
 * ~700 MB per `npm test`; CI runs it twice a stop, and its run on this machine failed with ENOSPC
 * once /tmp had grown to 68 GB.
 *
 * Guarantees:
 * - removes only directories named as above: the one it made, and at setup those of earlier runs
 *   whose vitest process is gone (killed before its teardown). A directory whose pid is alive is
 *   kept, a reused pid included;
 * - removes none that has a mount point inside it (a test's leftover bind or FUSE mount: a recursive
 *   rm would delete through the mount or hang on it). Such a directory is kept and named on stderr.
 * Out of scope: files written outside os.tmpdir() (fixed paths such as /tmp/podfiles-cluster), and
 * children started with an environment that drops TMPDIR.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PREFIX = "podfiles-test-run-";
const RUN_DIR_NAME = new RegExp(`^${PREFIX}(\\d+)-[A-Za-z0-9]{6}$`); // mkdtemp adds 6 characters

/** Makes this process's run directory under `base`. */
export function makeRunTempDir(base: string, pid = process.pid): string {
  return mkdtempSync(join(base, `${PREFIX}${pid}-`));
}

/** The mount points at or below `dir` in this process's mount namespace. */
export function mountsInside(dir: string): string[] {
  const unescapeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => unescapeOctal(line.split(" ")[4] ?? ""))
    .filter((mountPoint) => mountPoint === dir || mountPoint.startsWith(`${dir}/`));
}

/** Removes a run directory unless a mount lies inside it; says on stderr what it kept and why. */
export function removeRunTempDir(dir: string): boolean {
  const mounts = mountsInside(dir);
  if (mounts.length > 0) {
    console.error(`podfiles tests: kept ${dir}: mount points inside it (${mounts.join(", ")})`);
    return false;
  }
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    return true;
  } catch (err) {
    console.error(`podfiles tests: could not remove ${dir}: ${(err as Error).message}`);
    return false;
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Removes the run directories under `base` whose vitest process no longer runs; returns them. */
export function sweepAbandonedRunDirs(base: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(base)) {
    const pid = RUN_DIR_NAME.exec(name)?.[1];
    if (pid === undefined || alive(Number(pid))) continue;
    if (removeRunTempDir(join(base, name))) removed.push(name);
  }
  return removed;
}

let runDir: string | undefined;
let callerTmpdir: string | undefined;

export function setup(): void {
  const base = tmpdir();
  sweepAbandonedRunDirs(base);
  callerTmpdir = process.env.TMPDIR;
  runDir = makeRunTempDir(base);
  process.env.TMPDIR = runDir;
}

export function teardown(): void {
  if (callerTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = callerTmpdir;
  if (runDir !== undefined) removeRunTempDir(runDir);
}
