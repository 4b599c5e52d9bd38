// The verified fallback when openat2 is unavailable: resolve one component at a time from the
// root fd, never passing ".." to the kernel, and check the result's real path at the end. Every
// lookup runs on the threadpool (fs callbacks): a component on a hung mount blocks a pool thread,
// never the event loop.
import * as fs from "node:fs";
import { promisify } from "node:util";
import { MAX_SYMLINKS, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_PATH } from "./constants.js";
import { systemError } from "./errors.js";
import { fdPath, realPathOrClose } from "./fd-path.js";

const open = promisify(fs.open) as (path: string, flags: number, mode?: number) => Promise<number>;
const fstat = promisify(fs.fstat) as (fd: number) => Promise<fs.Stats>;
const readlink = fs.promises.readlink;

export interface WalkRoot {
  /** O_PATH fd of the root directory. */
  fd: number;
  /** readlink(/proc/self/fd/<fd>) of the root, for the final verification. */
  real: string;
}

/** What to do with the last component; without it, every component is followed and must be a directory. */
export interface FinalOpen {
  flags: number;
  mode: number;
}

const PROBE = O_PATH | O_NOFOLLOW | O_CLOEXEC;

/** Whether open(2) with these flags follows a final symlink (O_CREAT|O_EXCL never does). */
function followsFinal(flags: number): boolean {
  return (flags & O_NOFOLLOW) === 0 && (flags & (O_CREAT | O_EXCL)) !== (O_CREAT | O_EXCL);
}

function errnoCode(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}

const closeQuietly = (fd: number) => {
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
};

/**
 * Closes `fd` and throws EXDEV unless its real path is the root or below it. A defence in depth:
 * where the root's own path is "/" (or unreachable from this process, as for /proc/<pid>/root of
 * another mount namespace) it cannot tell inside from outside and the walk alone confines.
 * (readlink of /proc/self/fd/N prints the fd's dentry path; it never calls into the filesystem.)
 */
export function verifyInside(root: WalkRoot, fd: number, reqPath: string): number {
  const real = realPathOrClose(fd);
  if (root.real === "/" || real === root.real || real.startsWith(root.real + "/")) return fd;
  fs.closeSync(fd);
  throw systemError("EXDEV", "open", reqPath);
}

/**
 * Resolves `components` inside the root. With `final`, opens the last one with final.flags and
 * returns that fd; without, returns an O_PATH fd of the directory they name. Throws ELOOP after
 * MAX_SYMLINKS symlinks, ENOTDIR for a non-directory in the middle, and kernel errors as thrown.
 */
export async function walk(root: WalkRoot, components: readonly string[], reqPath: string, final?: FinalOpen): Promise<number> {
  const stack: number[] = []; // owned O_PATH fds of the directories below the root, innermost last
  const queue = components.slice();
  const cur = (): number => (stack.length > 0 ? stack[stack.length - 1]! : root.fd);
  let links = 0;

  /** Replaces the symlink `name` in `dir` with its target's components at the front of the queue. */
  const expand = async (dir: number, name: string): Promise<void> => {
    if (++links > MAX_SYMLINKS) throw systemError("ELOOP", "open", reqPath);
    let target: string;
    try {
      target = await readlink(fdPath(dir, name));
    } catch (e) {
      // EINVAL: no longer a symlink (swapped since the probe): look the name up again. Retries
      // count as links, so a swap loop ends in ELOOP.
      if (errnoCode(e) !== "EINVAL") throw e;
      queue.unshift(name);
      return;
    }
    if (target === "") throw systemError("ENOENT", "open", reqPath);
    if (target.startsWith("/")) while (stack.length > 0) fs.closeSync(stack.pop()!);
    queue.unshift(...target.split("/"));
  };

  try {
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (stack.length > 0) fs.closeSync(stack.pop()!); // clamps at the root
        continue;
      }
      const dir = cur();
      if (queue.length === 0 && final) {
        let probe: number | undefined;
        try {
          probe = await open(fdPath(dir, c), PROBE);
        } catch (e) {
          if (errnoCode(e) !== "ENOENT" || (final.flags & O_CREAT) === 0) throw e;
        }
        if (probe !== undefined) {
          let isLink: boolean;
          try {
            isLink = (await fstat(probe)).isSymbolicLink();
          } finally {
            closeQuietly(probe);
          }
          if (isLink && followsFinal(final.flags)) {
            await expand(dir, c);
            continue;
          }
        }
        // O_NOFOLLOW: if the name became a symlink since the probe, this fails instead of following it.
        const fd = await open(fdPath(dir, c), final.flags | O_NOFOLLOW | O_CLOEXEC, final.mode);
        if ((final.flags & O_PATH) !== 0 && followsFinal(final.flags)) {
          let isLink = true;
          try {
            isLink = (await fstat(fd)).isSymbolicLink();
          } finally {
            if (isLink) closeQuietly(fd);
          }
          if (isLink) throw systemError("ELOOP", "open", reqPath);
        }
        return verifyInside(root, fd, reqPath);
      }
      const fd = await open(fdPath(dir, c), PROBE);
      let st: fs.Stats;
      try {
        st = await fstat(fd);
      } catch (e) {
        closeQuietly(fd);
        throw e;
      }
      if (st.isSymbolicLink()) {
        fs.closeSync(fd);
        await expand(dir, c);
      } else if (!st.isDirectory()) {
        fs.closeSync(fd);
        throw systemError("ENOTDIR", "open", reqPath);
      } else {
        stack.push(fd);
      }
    }
    // The path ended on a directory reached through ".", ".." or the root itself.
    if (final) {
      // A magic link, so the caller's O_NOFOLLOW (meant for a last name there is none of) is dropped.
      const fd = await open(fdPath(cur()), (final.flags & ~O_NOFOLLOW) | O_CLOEXEC, final.mode);
      return verifyInside(root, fd, reqPath);
    }
    const fd = stack.length > 0 ? stack.pop()! : await open(fdPath(root.fd), O_PATH | O_DIRECTORY | O_CLOEXEC);
    return verifyInside(root, fd, reqPath);
  } finally {
    for (const fd of stack) closeQuietly(fd);
  }
}

/**
 * Opens the directory `names` (one component each) below `dirFd`, never following a symlink
 * and never leaving `dirFd`: each step is O_PATH|O_NOFOLLOW|O_DIRECTORY relative to the last.
 * Returns an O_PATH fd; `names` empty gives a new fd of dirFd itself.
 */
export async function walkBeneath(dirFd: number, names: readonly string[]): Promise<number> {
  let fd = await open(fdPath(dirFd), O_PATH | O_DIRECTORY | O_CLOEXEC);
  for (const name of names) {
    try {
      const next = await open(fdPath(fd, name), O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
      closeQuietly(fd);
      fd = next;
    } catch (e) {
      closeQuietly(fd);
      throw e;
    }
  }
  return fd;
}
