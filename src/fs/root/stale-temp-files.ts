// Temp files of uploads a killed server left behind (`.NAME.podfiles-HEX.part`, temp-names.ts)
// are removed: for a local root by one bounded walk when `podfiles serve --root` starts, and in
// containers lazily, the first time in this process a writer opens in a directory (once per
// directory, with a bounded memo), for those older than an upload session's idle timeout. A temp
// file an upload of this process holds (target-claims.ts) is never removed.
import * as fs from "node:fs";
import { posix } from "node:path";
import { ConfinedRoot } from "../confine/index.js";
import type { RootContext } from "./context.js";
import { closeQuietly, direntName, fstat, opendirBytes } from "./fs-sys.js";
import { isClaimed, nameKey } from "./target-claims.js";
import { isTempName } from "./temp-names.js";

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;

/**
 * Age after which a temp file in a container is taken for a leftover: the default idle timeout of
 * chunked upload sessions (15 min, src/handlers/upload-sessions.ts), after which even a live session would have been
 * aborted; a streaming upload rewrites its temp file with every chunk, so its mtime stays fresh.
 */
export const STALE_TEMP_AGE_MS = 15 * 60_000;
/** Directories remembered as swept; the oldest is forgotten beyond this (a map of short strings). */
const SWEPT_MEMO = 4096;
/** Entries one directory's sweep reads at most (a huge directory costs one bounded scan). */
const ENTRIES_PER_DIRECTORY = 100_000;

const swept = new Set<string>();

export interface SweepResult {
  removed: number;
  directories: number;
  entries: number;
  /** True when a bound stopped the walk early. */
  truncated: boolean;
}

/**
 * Starts, in the background, the sweep of the directory dirFd (O_PATH or open) whose fstat is dir,
 * unless this process swept it already. Resolves once the sweep holds its own fd of the directory
 * (the caller keeps dirFd open until then, so the number cannot be reused under the open); never
 * throws, and the sweep's own errors are ignored.
 */
export async function sweepDirectoryOnce(ctx: RootContext, dirFd: number, dir: fs.BigIntStats, path: string, olderThanMs = STALE_TEMP_AGE_MS): Promise<void> {
  const id = `${dir.dev}:${dir.ino}`;
  if (swept.has(id)) return;
  swept.add(id);
  if (swept.size > SWEPT_MEMO) swept.delete(swept.values().next().value as string);
  let fd: number;
  try {
    fd = await ctx.openAt(dirFd, "", path, O_RDONLY | O_DIRECTORY);
  } catch {
    return;
  }
  void removeTempFilesIn(fd, dir, Date.now() - olderThanMs, ENTRIES_PER_DIRECTORY)
    .catch(() => undefined)
    .finally(() => closeQuietly(fd));
}

/**
 * Removes leftover temp files in every directory of the root (one filesystem, symlinks never
 * followed, each directory opened confined), at most maxEntries entries read in all.
 */
export async function sweepTree(ctx: RootContext, options: { maxEntries?: number; olderThanMs?: number } = {}): Promise<SweepResult> {
  const budget = options.maxEntries ?? 200_000;
  const cutoff = Date.now() - (options.olderThanMs ?? 0);
  const result: SweepResult = { removed: 0, directories: 0, entries: 0, truncated: false };
  // breadth first, one directory open at a time: depth costs queued path strings, not fds
  const queue: string[] = ["/"];
  let rootDev: bigint | undefined;
  for (let next = 0; next < queue.length; next++) {
    if (result.entries >= budget) {
      result.truncated = true;
      break;
    }
    const path = queue[next]!;
    let fd: number;
    try {
      fd = await ctx.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch {
      continue; // gone, swapped for a symlink, unreadable: nothing of ours to remove there
    }
    try {
      const dir = await fstat(fd, { bigint: true });
      rootDev ??= dir.dev;
      if (dir.dev !== rootDev) continue; // another mount inside the root: not walked (find -xdev)
      result.directories++;
      const seen = await removeTempFilesIn(fd, dir, cutoff, budget - result.entries, (name) => queue.push(posix.join(path, name)));
      result.entries += seen.entries;
      result.removed += seen.removed;
    } finally {
      closeQuietly(fd);
    }
  }
  return result;
}

/** Reads up to maxEntries names of the open directory fd; removes unclaimed temp files not modified since cutoff. */
async function removeTempFilesIn(
  fd: number,
  dir: fs.BigIntStats,
  cutoff: number,
  maxEntries: number,
  onDirectory?: (name: string) => void,
): Promise<{ entries: number; removed: number }> {
  let entries = 0;
  let removed = 0;
  const at = (name: string) => ConfinedRoot.fdPath(fd, name);
  const handle = await opendirBytes(ConfinedRoot.fdPath(fd));
  try {
    for (let d = await handle.read(); d !== null; d = await handle.read()) {
      if (++entries > maxEntries) break;
      const name = direntName(d);
      if (d.isDirectory() || (onDirectory && typeUnknown(d) && (await isDirectoryAt(at(name))))) {
        onDirectory?.(name);
        continue;
      }
      if (!isTempName(name) || isClaimed(nameKey(dir, name))) continue;
      const st = await fs.promises.lstat(at(name)).catch(() => undefined);
      if (!st?.isFile() || st.mtimeMs > cutoff) continue;
      if (isClaimed(nameKey(dir, name))) continue; // claimed while we looked
      await fs.promises.unlink(at(name)).then(
        () => removed++,
        () => undefined,
      );
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
  return { entries: Math.min(entries, maxEntries), removed };
}

/** readdir left the type open (DT_UNKNOWN, on some filesystems): lstat decides. */
const typeUnknown = (d: fs.Dirent) =>
  !d.isFile() && !d.isDirectory() && !d.isSymbolicLink() && !d.isFIFO() && !d.isSocket() && !d.isCharacterDevice() && !d.isBlockDevice();

const isDirectoryAt = (path: fs.PathLike) =>
  fs.promises.lstat(path).then(
    (st) => st.isDirectory(),
    () => false,
  );
