// mkdir, remove and rename, each done on a single name inside a pinned,
// confined parent directory fd, so no step can be redirected outside the root.
import * as fs from "node:fs";
import { ConfinedRoot } from "../confine/index.js";
import type { Entry } from "../container-fs.js";
import { alreadyExists, failedPrecondition, invalidArgument, targetExists } from "../../errors.js";
import { closeQuietly, direntName, fchmod, fchown, opendirBytes } from "./fs-sys.js";
import type { RootContext } from "./context.js";

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, S_IFMT, S_IFDIR } = fs.constants;
const DEFAULT_DIR_MODE = 0o755;

const isDir = (st: fs.Stats | fs.BigIntStats) => (Number(st.mode) & S_IFMT) === S_IFDIR;

/** mkdir of one directory; EEXIST unless existingOk and it is a directory. */
async function makeOne(ctx: RootContext, path: string, mode: number, existingOk: boolean): Promise<void> {
  await ctx.inParent(path, async (_dirFd, name, at) => {
    if (name === "") {
      if (existingOk) return;
      throw alreadyExists("/: already exists");
    }
    try {
      await ctx.guard.run(path, () => fs.promises.mkdir(at(), { mode }));
      // mkdir's mode is filtered by the umask; a new directory belongs to the container's default user
      await setModeNoFollow(ctx, path, mode, ctx.defaultOwner);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST" || !existingOk) throw err;
      // An existing directory (or a symlink to one, resolved inside the root) is fine for -p.
      const st = await ctx.statEntry(path).catch(() => undefined);
      if (st?.type !== "directory") throw failedPrecondition(`${path}: exists and is not a directory`);
    }
  });
}

/**
 * chmod (and chown when an owner is given) of a directory that never follows a
 * symlink swapped in for it: fchmod/fchown on an O_NOFOLLOW fd.
 */
export async function setModeNoFollow(ctx: RootContext, path: string, mode: number, owner?: { uid?: number; gid?: number }): Promise<void> {
  const fd = await ctx.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    await fchmod(fd, mode);
    if (owner && (owner.uid !== undefined || owner.gid !== undefined)) await fchown(fd, owner.uid ?? -1, owner.gid ?? -1);
  } finally {
    closeQuietly(fd);
  }
}

/** mkdir -p: every missing component, each created confined. */
export async function makeDirectories(ctx: RootContext, path: string, options: { mode: number }): Promise<void> {
  const parts = path.split("/").filter(Boolean);
  let current = "";
  for (const part of parts) {
    current += "/" + part;
    await makeOne(ctx, current, options.mode, true);
  }
}

export async function makeDirectory(ctx: RootContext, path: string, options: { parents: boolean; mode?: number }): Promise<Entry> {
  const mode = options.mode ?? DEFAULT_DIR_MODE;
  if (options.parents) await makeDirectories(ctx, path, { mode });
  else await makeOne(ctx, path, mode, false);
  return ctx.lstatEntry(path);
}

export async function remove(ctx: RootContext, path: string, options: { recursive: boolean }): Promise<void> {
  if (path === "/") throw invalidArgument("refusing to remove the container root");
  await ctx.inParent(path, async (dirFd, name, at) => {
    const st = await ctx.lstat(at(), path);
    if (!isDir(st)) return ctx.guard.run(path, () => fs.promises.unlink(at()));
    if (options.recursive) await removeChildren(ctx, dirFd, name, path);
    await ctx.guard.run(path, () => fs.promises.rmdir(at()));
  });
}

/**
 * Empties directory `name` inside dirFd. Each level is opened with O_NOFOLLOW
 * from its parent's fd, and every unlink/rmdir names a single component there:
 * a directory swapped for a symlink mid-way is unlinked as a link, never followed.
 */
async function removeChildren(ctx: RootContext, dirFd: number, name: string, path: string): Promise<void> {
  const pin = await ctx.pinAt(dirFd, name, path);
  const fd = pin.pathFd;
  try {
    if (pin.type !== "directory") throw Object.assign(new Error(`${path}: not a directory`), { code: "ENOTDIR" });
    const dir = await ctx.guard.run(path, () => opendirBytes(ConfinedRoot.fdPath(fd)));
    for await (const child of dir) {
      const childName = direntName(child);
      const at = ConfinedRoot.fdPath(fd, childName);
      const childPath = `${path}/${childName}`;
      const st = await ctx.lstat(at, childPath).catch(() => undefined);
      if (!st) continue;
      if (isDir(st)) {
        await removeChildren(ctx, fd, childName, childPath);
        await ctx.guard.run(childPath, () => fs.promises.rmdir(at));
      } else {
        await ctx.guard.run(childPath, () => fs.promises.unlink(at));
      }
    }
  } finally {
    closeQuietly(fd);
  }
}

export async function rename(ctx: RootContext, from: string, to: string, options: { overwrite: boolean }): Promise<Entry> {
  if (from === "/" || to === "/") throw invalidArgument("cannot rename the container root");
  const exists = () => targetExists(to);
  await ctx.inParent(from, (fromFd, fromName, fromAt) =>
    ctx.inParent(to, async (toFd, toName, toAt) => {
      await ctx.lstat(fromAt(), from); // NOT_FOUND names the source when it is missing
      if (options.overwrite) return ctx.guard.run(from, () => fs.promises.rename(fromAt(), toAt()));
      try {
        // renameat2(RENAME_NOREPLACE) through the addon: atomic, a racing creator never loses its file
        if (ctx.root.renameNoReplace(fromFd, fromName, toFd, toName)) return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "EEXIST") throw exists();
        throw err;
      }
      // without the addon: check, then rename (a small race remains)
      if (await ctx.lstat(toAt(), to).catch(() => undefined)) throw exists();
      await ctx.guard.run(from, () => fs.promises.rename(fromAt(), toAt()));
    }),
  );
  return ctx.lstatEntry(to);
}
