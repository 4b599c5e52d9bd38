// Walking a directory tree for ListFiles, Find, DiskUsage and tar downloads: iterative (no
// recursion, so depth is not bounded by the JS stack), streaming (a directory's entries are
// yielded as they are read), with a bounded number of open fds per walk, and to at most
// MAX_TREE_DEPTH levels.
//
// Order: all entries of a directory, then each subdirectory in turn (depth first over
// directories). Only the names of subdirectories still to visit are held, never the entries.
//
// Listing: with the addon (strategy openat2), a directory's entries and their lstat come in
// batches of up to DIR_STATS_BATCH, one threadpool job each (getdents64, fstatat and readlinkat
// relative to the directory's fd: src/fs/confine/dir-stats.ts), and a subdirectory is opened
// together with its first batch: one job per directory of up to 1,024 entries. Without it,
// opendir on the fd's procfs path and an lstat job per entry (and a readlink job per symlink).
// Measured on 1,000 directories of 99 files through `podfiles serve` (bench/find.mjs): Find of
// every entry 4.8–6.3 s before, 1.8–2.3 s with the batches; on 100 directories of 100 symlinks,
// in process: 0.13–0.18 s with the targets read in the batch, 1.6–2.0 s with a readlink job each.
//
// fds: a directory is held by an O_PATH fd, or (a subdirectory opened with its first batch) by
// an O_RDONLY one. The walk's own top directory is held throughout; of
// the directories still to come back to (the ancestors of the one being listed), those in the top
// KEEP_SHALLOW levels and the DEEP_WINDOW deepest keep their fds; any other is reopened when the
// walk returns to it, by its names from the nearest held ancestor with no symlink followed
// (ConfinedRoot.openBeneath), and checked to be the same directory (dev and inode) — one that
// was moved or replaced since is skipped, as one removed would be. At most KEEP_SHALLOW +
// DEEP_WINDOW + 3 fds (the directory being read: its fd and a readable one (opendir handle, or
// the top's fd for the batches); a reopen in flight), plus what the consumer opens per entry and
// the addon's own dup while a batch runs.
import * as fs from "node:fs";
import { ConfinedRoot } from "../confine/index.js";
import type { DirStatsBatch } from "../confine/dir-stats.js";
import type { Entry } from "../container-fs.js";
import { failedPrecondition } from "../../errors.js";
import type { IdNames } from "../id-names.js";
import { entryFromStats, type EntryStats, isDirectory } from "./entries.js";
import { closeQuietly, direntName, opendirBytes } from "./fs-sys.js";
import { joinPath, type RootContext } from "./context.js";

/** Deepest level listed below the walk's top (ListFiles -r, tar downloads); deeper trees fail. */
export const MAX_TREE_DEPTH = 4096;
const KEEP_SHALLOW = 16;
const DEEP_WINDOW = 16;
const LSTAT_BATCH = 64;
/**
 * Entries per batch: bounds its memory (names ≤ 255 bytes and stats 128 bytes each; symlink
 * targets < 4 KiB: about 0.4 MB, 4.5 MB if every entry were a symlink with the longest target)
 * and its time on a pool thread (about 1 ms on ext4).
 */
const DIR_STATS_BATCH = 1024;

export interface WalkOptions {
  includeHidden: boolean;
  recursive: boolean;
  /** With recursive: levels below the top; 0 = unlimited (up to MAX_TREE_DEPTH). */
  maxDepth: number;
  signal?: AbortSignal;
}

/** One entry; `dirFd` (O_PATH fd of its directory) and `name` stay valid until the walk moves on. */
export interface Walked {
  entry: Entry;
  dirFd: number;
  name: string;
  /** The lstat the entry was made from (blocks, dev and inode for DiskUsage). */
  st: WalkStats;
  /** The in-container path of the directory it is in. */
  dir: string;
}

/** The lstat fields of a walked entry: from fs.lstat, or from a batch of the addon's readDirStats. */
export type WalkStats = EntryStats & Pick<fs.BigIntStats, "blocks" | "dev" | "ino">;

interface Child {
  name: string;
  dev: bigint;
  ino: bigint;
}

interface Frame {
  name: string;
  parent: Frame | undefined;
  path: string;
  /** Level of this directory's entries below the top (the top's entries are 1). */
  depth: number;
  fd: number | undefined;
  /** fd is open for reading (getdents), not O_PATH: the addon's batches read it without another open. */
  readable: boolean;
  /** The first batch of its entries, read by the same addon call that opened fd. */
  first?: DirStatsBatch;
  dev: bigint;
  ino: bigint;
  /** Subdirectories still to visit, from `next` on. */
  children: Child[];
  next: number;
}

const skippable = new Set(["ENOENT", "ELOOP", "ENOTDIR", "EACCES"]);

/**
 * Walks the directory held by `topFd` (an O_PATH fd the walk takes over and closes) whose
 * in-container path is `topPath`. Throws FAILED_PRECONDITION when it would descend below
 * MAX_TREE_DEPTH levels.
 */
export async function* walkTree(
  ctx: RootContext,
  topFd: number,
  topPath: string,
  topSt: fs.BigIntStats,
  options: WalkOptions,
  names: IdNames,
): AsyncGenerator<Walked> {
  const top: Frame = {
    name: "",
    parent: undefined,
    path: topPath,
    depth: 1,
    fd: topFd,
    readable: false,
    dev: topSt.dev,
    ino: topSt.ino,
    children: [],
    next: 0,
  };
  const stack: Frame[] = []; // ancestors of `current` with subdirectories left, outermost first
  const deepHolders: Frame[] = []; // frames on the stack below KEEP_SHALLOW that hold fds, oldest first
  let current: Frame | undefined = top;
  let leaving: Frame | undefined;

  const release = (f: Frame) => {
    if (f.fd !== undefined) closeQuietly(f.fd);
    f.fd = undefined;
    const i = deepHolders.lastIndexOf(f);
    if (i >= 0) deepHolders.splice(i, 1);
  };
  const hold = (f: Frame) => {
    if (f === top || f.depth <= KEEP_SHALLOW || f.fd === undefined) return;
    deepHolders.push(f);
    if (deepHolders.length > DEEP_WINDOW) {
      const old = deepHolders.shift()!;
      closeQuietly(old.fd);
      old.fd = undefined;
    }
  };

  try {
    for (;;) {
      if (current) {
        yield* listDirectory(ctx, current, options, names);
        if (current.children.length > 0) {
          stack.push(current);
          hold(current);
        } else if (current !== top) {
          release(current);
        }
        current = undefined;
      }
      const parent = stack[stack.length - 1];
      if (!parent) break;
      const child = parent.children[parent.next++]!;
      const last = parent.next >= parent.children.length;
      if (last) {
        stack.pop();
        leaving = parent; // off the stack, released once its last child is open: closed by finally if that throws
      }
      const path = joinPath(parent.path, child.name);
      const parentFd = await fdOf(ctx, parent, hold);
      if (parentFd !== undefined) {
        const opened = await openSubdirectory(ctx, parentFd, child, path, options);
        if (opened) current = { name: child.name, parent, path, depth: parent.depth + 1, ...opened, dev: child.dev, ino: child.ino, children: [], next: 0 };
      } else {
        parent.next = parent.children.length; // moved or removed since it was listed: nothing left to visit there
        if (!last) stack.pop();
      }
      if (last && parent !== top) release(parent);
      leaving = undefined;
      options.signal?.throwIfAborted();
    }
  } finally {
    if (current) closeQuietly(current.fd);
    if (leaving && leaving !== top) closeQuietly(leaving.fd);
    for (const f of stack) closeQuietly(f.fd);
    closeQuietly(top.fd);
  }
}

/** The frame's fd, reopened from its nearest held ancestor when it was let go; undefined when it is gone. */
async function fdOf(ctx: RootContext, f: Frame, hold: (f: Frame) => void): Promise<number | undefined> {
  if (f.fd !== undefined) return f.fd;
  const names: string[] = [];
  let a: Frame = f;
  while (a.fd === undefined) {
    names.push(a.name);
    a = a.parent!; // the top always holds its fd
  }
  names.reverse();
  let fd: number;
  try {
    fd = await ctx.guard.run(f.path, () => ctx.root.openBeneath(a.fd!, names, f.path), closeQuietly);
  } catch (err) {
    if (skippable.has((err as NodeJS.ErrnoException).code ?? "")) return undefined;
    throw err;
  }
  const st = await ctx.fstat(fd, f.path).catch((err: unknown) => {
    closeQuietly(fd);
    throw err;
  });
  if (st.dev !== f.dev || st.ino !== f.ino) {
    closeQuietly(fd);
    return undefined;
  }
  f.fd = fd;
  f.readable = false;
  hold(f);
  return fd;
}

/**
 * An fd of the subdirectory `child` of dirFd (no symlink followed, nothing but a directory opened);
 * undefined when it was removed or replaced since it was listed. With the addon it is opened for
 * reading, with its first batch of entries, in one threadpool job (openDirectoryStats): the walk
 * then costs one job per directory of up to DIR_STATS_BATCH entries, not three (O_PATH open, open
 * for reading, batch). A directory the server may not read (EACCES) is held by O_PATH as without
 * the addon, and its listing fails as it does there.
 */
async function openSubdirectory(
  ctx: RootContext,
  dirFd: number,
  child: Child,
  path: string,
  options: WalkOptions,
): Promise<{ fd: number; readable: boolean; first?: DirStatsBatch } | undefined> {
  try {
    if (ctx.root.readsDirectoryStats) {
      try {
        const { fd, batch } = await ctx.guard.run(
          path,
          () => ctx.root.openDirectoryStats(dirFd, child.name, DIR_STATS_BATCH, !options.includeHidden, path),
          (late) => closeQuietly(late.fd),
        );
        return { fd, readable: true, first: batch };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EACCES") throw err;
      }
    }
    return { fd: await ctx.openDirectoryAt(dirFd, child.name, path), readable: false };
  } catch (err) {
    if (skippable.has((err as NodeJS.ErrnoException).code ?? "")) return undefined;
    throw err;
  }
}

/**
 * Yields the frame's entries, noting the subdirectories to visit in frame.children: in batches
 * read by the addon (readDirStats) where it is in use, else by opendir and an lstat per entry.
 */
function listDirectory(ctx: RootContext, frame: Frame, options: WalkOptions, names: IdNames): AsyncGenerator<Walked> {
  return ctx.root.readsDirectoryStats ? listInBatches(ctx, frame, options, names) : listByLstat(ctx, frame, options, names);
}

/** The Walked for one entry of `frame`; a subdirectory to descend into is added to frame.children. */
function visit(frame: Frame, options: WalkOptions, names: IdNames, name: string, st: WalkStats, target: string | undefined): Walked {
  const path = joinPath(frame.path, name);
  if (options.recursive && (options.maxDepth === 0 || frame.depth < options.maxDepth) && isDirectory(st)) {
    if (frame.depth >= MAX_TREE_DEPTH)
      throw failedPrecondition(`${frame.path}: the tree is deeper than ${MAX_TREE_DEPTH} levels, the most a recursive listing or tar download goes`);
    frame.children.push({ name, dev: st.dev, ino: st.ino });
  }
  return { entry: entryFromStats(path, st, names, target), dirFd: frame.fd!, name, st, dir: frame.path };
}

/**
 * The addon's path: the directory is opened for reading beneath its O_PATH fd, and each batch of
 * DIR_STATS_BATCH entries (getdents, fstatat and readlinkat relative to that fd) is one threadpool
 * job under the hang guard, where the lstat path costs one job per entry (and one per symlink target).
 */
async function* listInBatches(ctx: RootContext, frame: Frame, options: WalkOptions, names: IdNames): AsyncGenerator<Walked> {
  const dirFd = frame.fd!;
  const readFd = frame.readable ? dirFd : await ctx.guard.run(frame.path, () => ctx.root.openDirectoryForReading(dirFd, frame.path), closeQuietly);
  try {
    let first = frame.first;
    frame.first = undefined;
    for (;;) {
      // a batch still running past the deadline works on its own dup of readFd: closing ours is safe
      const batch = first ?? (await ctx.guard.run(frame.path, () => ctx.root.readDirectoryStats(readFd, DIR_STATS_BATCH, !options.includeHidden, frame.path)));
      first = undefined;
      for (const e of batch.entries) {
        options.signal?.throwIfAborted();
        yield visit(frame, options, names, e.name, e.st, e.target);
      }
      if (batch.done) return;
    }
  } finally {
    if (readFd !== dirFd) closeQuietly(readFd);
  }
}

/** The path without the addon: opendir on the fd's procfs path, and lstat of each entry by its procfs path, in parallel batches. */
async function* listByLstat(ctx: RootContext, frame: Frame, options: WalkOptions, names: IdNames): AsyncGenerator<Walked> {
  const dirFd = frame.fd!;
  // opendir on the fd's procfs path opens the very directory we hold
  const dir = await ctx.guard.run(
    frame.path,
    () => opendirBytes(ConfinedRoot.fdPath(dirFd)),
    (late) => void late.close().catch(() => undefined),
  );
  try {
    // lstat in batches: one threadpool round trip per entry in turn costs more than the stat itself
    const flush = async function* (this: void, batch: string[]): AsyncGenerator<Walked> {
      const stats = await Promise.all(batch.map((name) => lstatOrGone(ctx, ConfinedRoot.fdPath(dirFd, name), joinPath(frame.path, name))));
      for (let i = 0; i < batch.length; i++) {
        const st = stats[i];
        if (!st) continue; // removed while listing
        options.signal?.throwIfAborted();
        const name = batch[i]!;
        const isLink = (Number(st.mode) & fs.constants.S_IFMT) === fs.constants.S_IFLNK;
        const target = isLink ? await ctx.readlink(ConfinedRoot.fdPath(dirFd, name), joinPath(frame.path, name)).catch(() => "") : undefined;
        yield visit(frame, options, names, name, st, target);
      }
    };
    let batch: string[] = [];
    for await (const dirent of dir) {
      const name = direntName(dirent);
      if (!options.includeHidden && name.startsWith(".")) continue;
      batch.push(name);
      if (batch.length >= LSTAT_BATCH) {
        yield* flush(batch);
        batch = [];
      }
    }
    yield* flush(batch);
  } finally {
    await dir.close().catch(() => undefined);
  }
}

async function lstatOrGone(ctx: RootContext, at: fs.PathLike, path: string): Promise<fs.BigIntStats | undefined> {
  try {
    return await ctx.lstat(at, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}
