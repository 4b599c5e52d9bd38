// The directories one tar extraction writes into, each resolved once per extraction and kept
// open. Before, every member paid for its directory again: an lstat of every ancestor below the
// target (the symlink check), a mkdir -p from the root (an open, a mkdir and a stat per level) and
// its parent reopened from the root; at depth 1 that was 14 of the 24 filesystem round trips of a
// file, 50 of 60 at depth 7 (tar-extract.spec.ts counts them), each 0.05–0.35 ms on a loaded VM.
//
// The checks stay those of the member-by-member code: every directory below the target is opened
// from its parent's fd by a single name with O_NOFOLLOW|O_DIRECTORY, so a symlink there (the
// symlink-then-file trick of kubectl cp's CVEs) is refused and a file there fails, never followed;
// a missing one is created as a real directory and counted as created (the extraction sets its
// mode). A kept fd pins the directory itself: a directory that a process in the container swaps
// for a symlink meanwhile is not followed either, the entries still land in the one checked.
import * as fs from "node:fs";
import { ConfinedRoot } from "../confine/index.js";
import { failedPrecondition, invalidArgument } from "../../errors.js";
import type { RootContext } from "./context.js";
import { closeQuietly, fchmod, fchown, fsync } from "./fs-sys.js";

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;
const DIRECTORY_MODE = 0o755;
/**
 * Directory fds one extraction keeps at most; beyond, the least recently used is closed (and
 * reopened, checked again, if a later member needs it). A tar lists a directory's members together,
 * so a few would do; 64 fds cost nothing next to the process's limit.
 */
export const KEPT_DIRECTORIES = 64;

export interface ExtractDirectory {
  /** In-root path. */
  readonly path: string;
  /** An fd of the directory: O_PATH, or O_RDONLY (then also readFd) when this extraction created it. */
  readonly fd: number;
  readonly st: fs.BigIntStats;
  /** The directory opened for reading, once fsync or fchmod needed it (they give EBADF on an O_PATH fd). */
  readFd?: number;
  /** A name was made in it since its last fsync. */
  unsynced?: boolean;
  /** Commits still running in it (src/pending-writes.ts): it is not closed meanwhile. */
  holds?: number;
}

export class ExtractDirectories {
  private readonly kept = new Map<string, ExtractDirectory>();
  private closed = false;

  private constructor(
    private readonly ctx: RootContext,
    /** The target directory (its own path may pass through symlinks inside the root, as any request path). */
    readonly top: ExtractDirectory,
    /** Directories this extraction created: theirs to chmod and chown. */
    readonly created: Set<string>,
  ) {}

  /** Opens the target directory; FAILED_PRECONDITION when it is none. */
  static async open(ctx: RootContext, dirPath: string): Promise<ExtractDirectories> {
    const pin = await ctx.pin(dirPath, { followFinalSymlink: true });
    if (pin.type !== "directory") {
      closeQuietly(pin.pathFd);
      throw failedPrecondition(`${dirPath}: tar uploads extract into a directory`);
    }
    return new ExtractDirectories(ctx, { path: dirPath, fd: pin.pathFd, st: pin.st }, new Set());
  }

  /**
   * The directory `path` (the target or below it), created with its missing ancestors. `member`
   * names the tar entry in the messages: INVALID_ARGUMENT when a directory on the way is a symlink,
   * FAILED_PRECONDITION when it is something else than a directory.
   */
  async directory(path: string, member: string): Promise<ExtractDirectory> {
    if (this.closed) throw new Error("extraction directories used after close");
    if (path === this.top.path) return this.top;
    const hit = this.kept.get(path);
    if (hit) {
      this.kept.delete(path); // most recently used last
      this.kept.set(path, hit);
      return hit;
    }
    const names = this.relative(path).split("/");
    // the nearest directory on the way that is open already
    let from = 0;
    let base = this.top;
    for (let i = names.length - 1; i > 0; i--) {
      const open = this.kept.get(this.pathOf(names, i));
      if (open) {
        base = open;
        from = i;
        break;
      }
    }
    for (let i = from; i < names.length; i++) {
      base = await this.step(base, names[i]!, this.pathOf(names, i + 1), member);
      await this.keep(base);
    }
    return base;
  }

  /**
   * Notes that a name was made in dir; its fsync (the name surviving a crash) comes with the next
   * syncAll(), or before its fd is closed. One fsync per directory and extraction instead of one per
   * file: a file's own data is fsynced before it takes its name, as for any upload; what waits is
   * only the directory's record of the name (measured: 0.13 ms and one round trip per file idle, 0.5
   * ms under load).
   */
  named(dir: ExtractDirectory): void {
    dir.unsynced = true;
  }

  /** A commit will use dir's fd: it is not evicted (closed) until release(dir). */
  hold(dir: ExtractDirectory): void {
    dir.holds = (dir.holds ?? 0) + 1;
  }

  release(dir: ExtractDirectory): void {
    dir.holds = (dir.holds ?? 1) - 1;
  }

  /** fsyncs every directory a name was made in since its last fsync (kept ones; evicted ones were synced when closed). */
  async syncAll(): Promise<void> {
    for (const dir of [this.top, ...this.kept.values()]) await this.syncIfNamed(dir);
  }

  private async syncIfNamed(dir: ExtractDirectory): Promise<void> {
    if (!dir.unsynced) return;
    await fsync(await this.readable(dir));
    dir.unsynced = false;
  }

  /** chmod (and chown when ids are given) of a directory, through its fd (never a symlink swapped in for it). */
  async setMode(dir: ExtractDirectory, mode: number, owner: { uid?: number; gid?: number }): Promise<void> {
    const fd = await this.readable(dir);
    await fchmod(fd, mode);
    if (owner.uid !== undefined || owner.gid !== undefined) await fchown(fd, owner.uid ?? -1, owner.gid ?? -1);
  }

  /** The directory's fd opened for reading (fsync and fchmod need one, an O_PATH fd gives EBADF), the first time. */
  private async readable(dir: ExtractDirectory): Promise<number> {
    dir.readFd ??= await this.ctx.openAt(dir.fd, "", dir.path, O_RDONLY | O_DIRECTORY);
    return dir.readFd;
  }

  /** Closes every kept fd; runs once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const dir of this.kept.values()) closeDirectory(dir);
    this.kept.clear();
    closeDirectory(this.top);
  }

  /** How many directory fds are open now (the spec checks the bound). */
  get openCount(): number {
    return this.kept.size + (this.closed ? 0 : 1);
  }

  private relative(path: string): string {
    return this.top.path === "/" ? path.slice(1) : path.slice(this.top.path.length + 1);
  }

  /** The path of the first `count` names below the target. */
  private pathOf(names: string[], count: number): string {
    const rel = names.slice(0, count).join("/");
    return this.top.path === "/" ? `/${rel}` : `${this.top.path}/${rel}`;
  }

  private async keep(dir: ExtractDirectory): Promise<void> {
    this.kept.set(dir.path, dir);
    // the oldest not held by a running commit goes, synced first; the one just kept (the next step's
    // parent) is the newest, never closed here. Held ones are at most WRITES_IN_FLIGHT, fewer than kept.
    while (this.kept.size > KEPT_DIRECTORIES) {
      let old: ExtractDirectory | undefined;
      for (const candidate of this.kept.values()) {
        if (!candidate.holds) {
          old = candidate;
          break;
        }
      }
      if (!old || old === dir) break;
      this.kept.delete(old.path);
      try {
        await this.syncIfNamed(old);
      } finally {
        closeDirectory(old);
      }
    }
  }

  /** Opens (or creates) the directory `name` inside parent, never following a symlink. */
  private async step(parent: ExtractDirectory, name: string, path: string, member: string): Promise<ExtractDirectory> {
    let fd: number;
    let readFd: number | undefined;
    try {
      fd = await this.ctx.openDirectoryAt(parent.fd, name, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOTDIR") throw await this.notADirectory(parent, name, path, member);
      if (code !== "ENOENT") throw err;
      fd = readFd = await this.create(parent, name, path, member);
    }
    try {
      return { path, fd, st: await this.ctx.fstat(fd, path), readFd };
    } catch (err) {
      closeQuietly(fd);
      throw err;
    }
  }

  /** mkdir of a missing directory, mode 0755 and the container's default owner, as mkdir -p gives it. */
  private async create(parent: ExtractDirectory, name: string, path: string, member: string): Promise<number> {
    const at = ConfinedRoot.fdPath(parent.fd, name);
    const made = await this.ctx.guard
      .run(path, () => fs.promises.mkdir(at, { mode: DIRECTORY_MODE }))
      .then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === "EEXIST") return false; // made meanwhile: opened and checked below like any other
          throw err;
        },
      );
    let fd: number;
    try {
      fd = await this.ctx.openAt(parent.fd, name, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOTDIR") throw await this.notADirectory(parent, name, path, member);
      throw err;
    }
    if (!made) return fd;
    try {
      // mkdir's mode is filtered by the umask; a new directory belongs to the container's default user
      await fchmod(fd, DIRECTORY_MODE);
      const owner = this.ctx.defaultOwner;
      if (owner) await fchown(fd, owner.uid, owner.gid);
    } catch (err) {
      closeQuietly(fd);
      throw err;
    }
    this.created.add(path);
    this.named(parent);
    return fd;
  }

  /** The refusal for a name on the way that is no directory: a symlink (never followed) or anything else. */
  private async notADirectory(parent: ExtractDirectory, name: string, path: string, member: string): Promise<Error> {
    const st = await this.ctx.lstat(ConfinedRoot.fdPath(parent.fd, name), path).catch(() => undefined);
    if (st && (Number(st.mode) & fs.constants.S_IFMT) === fs.constants.S_IFLNK)
      return invalidArgument(`tar entry "${member}" passes through the symlink ${path}`);
    return failedPrecondition(`${path}: exists and is not a directory`);
  }
}

function closeDirectory(dir: ExtractDirectory): void {
  closeQuietly(dir.fd);
  if (dir.readFd !== dir.fd) closeQuietly(dir.readFd);
}
