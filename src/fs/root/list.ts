// Directory listing that streams: one opendir(3) handle per level, entries
// yielded as they are read, so 100,000 entries are never held at once.
import * as fs from "node:fs";
import { ConfinedRoot } from "../confine/index.js";
import type { Entry, ListOptions } from "../container-fs.js";
import { failedPrecondition } from "../../errors.js";
import { entryFromStats, isDirectory } from "./entries.js";
import { closeQuietly } from "./fs-sys.js";
import { joinPath, type RootContext } from "./context.js";

const LSTAT_BATCH = 64;

async function lstatOrGone(path: string): Promise<fs.BigIntStats | undefined> {
  try {
    return await fs.promises.lstat(path, { bigint: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

const DIR_FLAGS = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;

export async function* listEntries(ctx: RootContext, path: string, options: ListOptions): AsyncGenerator<Entry> {
  const names = await ctx.names();
  // The top directory may be reached through a symlink (like `ls dir/`); below
  // it, symlinks to directories are listed as links and never descended into.
  const fd = openDirectory(ctx, path, DIR_FLAGS);
  yield* listOpenDirectory(ctx, fd, path, 1, options, names);
}

function openDirectory(ctx: RootContext, path: string, flags: number): number {
  try {
    return ctx.open(path, flags);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOTDIR") throw failedPrecondition(`${path}: not a directory`);
    throw err;
  }
}

async function* listOpenDirectory(
  ctx: RootContext,
  dirFd: number,
  dirPath: string,
  depth: number,
  options: ListOptions,
  names: Awaited<ReturnType<RootContext["names"]>>,
): AsyncGenerator<Entry> {
  let dir: fs.Dir | undefined;
  try {
    // opendir on the fd's procfs path reopens the very directory we hold.
    dir = await fs.promises.opendir(ConfinedRoot.fdPath(dirFd), { bufferSize: 256 });
    // lstat in batches: one threadpool round trip per entry in turn costs more than the stat itself
    let batch: fs.Dirent[] = [];
    const flush = async function* (this: void, dirents: fs.Dirent[]): AsyncGenerator<Entry> {
      const stats = await Promise.all(dirents.map((d) => lstatOrGone(ConfinedRoot.fdPath(dirFd, d.name))));
      for (let i = 0; i < dirents.length; i++) {
        const st = stats[i];
        if (!st) continue; // removed while listing
        options.signal?.throwIfAborted();
        const at = ConfinedRoot.fdPath(dirFd, dirents[i].name);
        const childPath = joinPath(dirPath, dirents[i].name);
        const target = (Number(st.mode) & fs.constants.S_IFMT) === fs.constants.S_IFLNK ? await fs.promises.readlink(at).catch(() => "") : undefined;
        yield entryFromStats(childPath, st, names, target);
        const descend = options.recursive && isDirectory(st) && (options.maxDepth === 0 || depth < options.maxDepth);
        if (descend) {
          let childFd: number;
          try {
            childFd = ctx.open(childPath, DIR_FLAGS | fs.constants.O_NOFOLLOW);
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code === "ENOENT" || code === "ELOOP" || code === "ENOTDIR" || code === "EACCES") continue;
            throw err;
          }
          yield* listOpenDirectory(ctx, childFd, childPath, depth + 1, options, names);
        }
      }
    };
    for await (const dirent of dir) {
      if (!options.includeHidden && dirent.name.startsWith(".")) continue;
      batch.push(dirent);
      if (batch.length >= LSTAT_BATCH) {
        yield* flush(batch);
        batch = [];
      }
    }
    yield* flush(batch);
  } finally {
    if (dir) await dir.close().catch(() => undefined);
    closeQuietly(dirFd);
  }
}
