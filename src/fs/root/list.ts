// Directory listing that streams: one opendir(3) handle per level, entries
// yielded as they are read, so 100,000 entries are never held at once.
import * as fs from "node:fs";
import { ConfinedRoot } from "../confine/index.js";
import type { Entry, ListOptions } from "../container-fs.js";
import { failedPrecondition } from "../../errors.js";
import { entryFromStats, isDirectory } from "./entries.js";
import { closeQuietly } from "./fs-sys.js";
import { joinPath, type RootContext } from "./context.js";

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
    for await (const dirent of dir) {
      options.signal?.throwIfAborted();
      if (!options.includeHidden && dirent.name.startsWith(".")) continue;
      const at = ConfinedRoot.fdPath(dirFd, dirent.name);
      const childPath = joinPath(dirPath, dirent.name);
      let st: fs.BigIntStats;
      try {
        st = await fs.promises.lstat(at, { bigint: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOENT") continue; // removed while listing
        throw err;
      }
      const target = dirent.isSymbolicLink() || (Number(st.mode) & fs.constants.S_IFMT) === fs.constants.S_IFLNK
        ? await fs.promises.readlink(at).catch(() => "")
        : undefined;
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
  } finally {
    if (dir) await dir.close().catch(() => undefined);
    closeQuietly(dirFd);
  }
}
