// What the RootFs parts share: the confined root, id names and small helpers that do one
// confined step each. Every call that touches a container path runs off the event loop (the
// libuv threadpool) under the hang guard, and nothing but a regular file or a directory is ever
// opened for reading or writing: the type is decided on an O_PATH fd first (which opens nothing),
// and the file is then reopened through that pinned fd, so it cannot be swapped in between.
import * as fs from "node:fs";
import { promisify } from "node:util";
import { ConfinedRoot } from "../confine/index.js";
import { cannotOpenType, failedPrecondition } from "../../errors.js";
import { idNames, parseIdFile, type IdNames } from "../id-names.js";
import { entryTypeOf } from "../mode-text.js";
import { closeQuietly, fstat, read, readlinkWire } from "./fs-sys.js";
import { entryFromStats } from "./entries.js";
import { HangGuard, type HangGuardOptions } from "./hang-guard.js";
import type { Entry, EntryType } from "../container-fs.js";

const ID_FILE_MAX = 4 * 1024 * 1024;
const ID_NAMES_TTL_MS = 5_000;

/** O_PATH: an fd that only names a file (fstat, *at calls, reopening); not in fs.constants. */
export const O_PATH = 0o10000000;
const O_CLOEXEC = 0o2000000;
const { O_NOFOLLOW, O_CREAT, O_EXCL, O_RDONLY, O_NONBLOCK } = fs.constants;

const openAsync = promisify(fs.open) as (path: fs.PathLike, flags: number, mode?: number) => Promise<number>;

export interface Owner {
  uid: number;
  gid: number;
}

/** A path pinned by an O_PATH fd (nothing opened) and its type, decided on that fd. */
export interface Pinned {
  pathFd: number;
  st: fs.BigIntStats;
  type: EntryType;
}

export interface OpenTypedOptions {
  /** Follow a final symlink (inside the root); default false (O_NOFOLLOW: the link itself is found and refused). */
  followFinalSymlink?: boolean;
  /** What the caller does, for the refusal message: "/dev/kmsg: cannot <verb> a char-device". */
  verb?: string;
}

export class RootContext {
  private cachedNames?: { at: number; names: IdNames };
  private loadingNames?: Promise<IdNames>;
  readonly guard: HangGuard;

  constructor(
    readonly root: ConfinedRoot,
    /** Owner given to new files when the caller names none; undefined = the server's own ids. */
    readonly defaultOwner?: Owner,
    guardOptions: HangGuardOptions = {},
  ) {
    this.guard = new HangGuard(guardOptions);
  }

  /** Canonical absolute in-root path; throws PathError on bad input. */
  clean(path: string): string {
    return ConfinedRoot.cleanPath(path);
  }

  /** Runs fn with the confined parent directory of path, always closing it. */
  async inParent<T>(path: string, fn: (dirFd: number, name: string, at: (name?: string) => fs.PathLike) => Promise<T>): Promise<T> {
    const parent = await this.guard.run(
      path,
      () => this.root.openParent(path),
      (late) => late.close(),
    );
    try {
      return await fn(parent.dirFd, parent.name, (n = parent.name) => ConfinedRoot.fdPath(parent.dirFd, n));
    } finally {
      parent.close();
    }
  }

  /**
   * Opens path confined (following a final symlink inside the root unless O_NOFOLLOW). With O_PATH
   * or O_CREAT the flags go to the kernel as given; any other open is type-first (openTyped): a
   * FIFO, socket or device is refused with FAILED_PRECONDITION and never opened.
   */
  async open(path: string, flags: number, mode?: number): Promise<number> {
    if ((flags & (O_PATH | O_CREAT)) !== 0) return this.openRaw(path, flags, mode);
    const pin = await this.pin(path, { followFinalSymlink: (flags & O_NOFOLLOW) === 0 });
    return this.reopen(pin, path, flags, { allow: ["regular", "directory"], verb: "open" });
  }

  /** A regular file opened with `flags` (O_RDONLY|O_NONBLOCK, O_WRONLY, …); anything else refused unopened. */
  async openRegular(path: string, flags: number, options: OpenTypedOptions = {}): Promise<{ fd: number; st: fs.BigIntStats }> {
    const pin = await this.pin(path, options);
    const fd = await this.reopen(pin, path, flags, { allow: ["regular"], verb: options.verb ?? "open" });
    return { fd, st: pin.st };
  }

  /** A directory as an O_PATH fd (list it with opendir on its fdPath); FAILED_PRECONDITION when it is none. */
  async openDirectory(path: string, options: OpenTypedOptions = {}): Promise<{ fd: number; st: fs.BigIntStats }> {
    const pin = await this.pin(path, options);
    if (pin.type !== "directory") {
      closeQuietly(pin.pathFd);
      throw failedPrecondition(`${path}: not a directory`);
    }
    return { fd: pin.pathFd, st: pin.st };
  }

  /** Resolves path (confined) to an O_PATH fd and fstats it: opens nothing, blocks no caller on a FIFO or device. */
  async pin(path: string, options: OpenTypedOptions = {}): Promise<Pinned> {
    const pathFd = await this.openRaw(path, O_PATH | (options.followFinalSymlink ? 0 : O_NOFOLLOW));
    return this.pinned(pathFd, path);
  }

  /** pin() for `name` inside the directory fd dirFd (a listing's own fd), never following a symlink. */
  async pinAt(dirFd: number, name: string, path: string): Promise<Pinned> {
    const pathFd = await this.guard.run(path, () => openAsync(ConfinedRoot.fdPath(dirFd, name), O_PATH | O_NOFOLLOW | O_CLOEXEC), closeQuietly);
    return this.pinned(pathFd, path);
  }

  /**
   * O_PATH fd of the directory `name` inside dirFd: O_NOFOLLOW|O_DIRECTORY, so a symlink or
   * anything but a directory there fails (ELOOP, ENOTDIR) instead of being followed or opened.
   */
  openDirectoryAt(dirFd: number, name: string, path: string): Promise<number> {
    return this.guard.run(path, () => openAsync(ConfinedRoot.fdPath(dirFd, name), O_PATH | O_NOFOLLOW | fs.constants.O_DIRECTORY | O_CLOEXEC), closeQuietly);
  }

  /**
   * open(2) of `name` inside the pinned directory dirFd ("" = the directory itself) with `flags`,
   * off the event loop and under the guard. For creating names (O_CREAT|O_EXCL|O_NOFOLLOW) and for
   * the directory's own fd; it types nothing, so never use it to open an existing name for data.
   */
  openAt(dirFd: number, name: string, path: string, flags: number, mode?: number): Promise<number> {
    return this.guard.run(path, () => openAsync(ConfinedRoot.fdPath(dirFd, name), flags | O_CLOEXEC, mode), closeQuietly);
  }

  /**
   * Opens the pinned file with `flags` through /proc/self/fd/<pathFd>: the very inode that was
   * typed, so a rename or swap since cannot substitute another. Refuses (unopened) any type not in
   * `allow`, with FAILED_PRECONDITION naming it. Closes the O_PATH fd either way.
   */
  async reopen(pin: Pinned, path: string, flags: number, how: { allow: EntryType[]; verb: string }): Promise<number> {
    try {
      if (!how.allow.includes(pin.type)) throw cannotOpenType(path, how.verb, pin.type);
      const reflags = (flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC;
      return await this.guard.run(path, () => openAsync(`/proc/self/fd/${pin.pathFd}`, reflags), closeQuietly);
    } finally {
      closeQuietly(pin.pathFd);
    }
  }

  /** lstat of `at` (a fdPath inside a pinned directory), off the event loop and under the guard. */
  lstat(at: fs.PathLike, path: string): Promise<fs.BigIntStats> {
    return this.guard.run(path, () => fs.promises.lstat(at, { bigint: true }));
  }

  /** readlink of `at` (a fdPath inside a pinned directory). */
  readlink(at: fs.PathLike, path: string): Promise<string> {
    return this.guard.run(path, () => readlinkWire(at));
  }

  /** fstat of an fd of a container file (a getattr that a hung mount may never answer). */
  fstat(fd: number, path: string): Promise<fs.BigIntStats> {
    return this.guard.run(path, () => fstat(fd, { bigint: true }));
  }

  async names(): Promise<IdNames> {
    const now = Date.now();
    if (this.cachedNames && now - this.cachedNames.at < ID_NAMES_TTL_MS) return this.cachedNames.names;
    // one read of the id files at a time, shared by every call that needs names meanwhile
    this.loadingNames ??= (async () => {
      try {
        const [users, groups] = await Promise.all([this.readSmallFile("/etc/passwd"), this.readSmallFile("/etc/group")]);
        const names = idNames(parseIdFile(users), parseIdFile(groups));
        this.cachedNames = { at: Date.now(), names };
        return names;
      } finally {
        this.loadingNames = undefined;
      }
    })();
    return this.loadingNames;
  }

  /** lstat of path (no final symlink followed) as an Entry. */
  async lstatEntry(path: string): Promise<Entry> {
    const names = await this.names();
    return this.inParent(path, async (dirFd, name, at) => {
      if (name === "") return entryFromStats(path, await this.fstat(dirFd, path), names);
      const st = await this.lstat(at(), path);
      const target = entryTypeOf(Number(st.mode)) === "symlink" ? await this.readlink(at(), path) : undefined;
      return entryFromStats(path, st, names, target);
    });
  }

  /** stat of path following symlinks inside the root. */
  async statEntry(path: string): Promise<Entry> {
    const names = await this.names();
    const pin = await this.pin(path, { followFinalSymlink: true });
    closeQuietly(pin.pathFd);
    return entryFromStats(path, pin.st, names);
  }

  private openRaw(path: string, flags: number, mode?: number): Promise<number> {
    return this.guard.run(path, () => this.root.openFile(path, flags, mode), closeQuietly);
  }

  private async pinned(pathFd: number, path: string): Promise<Pinned> {
    try {
      const st = await this.fstat(pathFd, path);
      return { pathFd, st, type: entryTypeOf(Number(st.mode)) };
    } catch (err) {
      closeQuietly(pathFd);
      throw err;
    }
  }

  /** Reads a small text file inside the root; "" when it is missing, unreadable or not a regular file. */
  private async readSmallFile(path: string): Promise<string> {
    let fd: number | undefined;
    let reading: Promise<number> | undefined;
    try {
      const file = await this.openRegular(path, O_RDONLY | O_NONBLOCK, { followFinalSymlink: true });
      fd = file.fd;
      const size = Math.min(Number(file.st.size), ID_FILE_MAX);
      const buf = Buffer.alloc(size);
      let off = 0;
      while (off < size) {
        reading = read(file.fd, buf, off, size - off, off);
        const n = await this.guard.run(path, () => reading!);
        reading = undefined;
        if (n === 0) break;
        off += n;
      }
      return buf.subarray(0, off).toString("utf8");
    } catch {
      return "";
    } finally {
      // a read past the deadline still uses fd: close it when that read returns, not under it
      const last = fd;
      if (reading)
        void reading.then(
          () => closeQuietly(last),
          () => closeQuietly(last),
        );
      else closeQuietly(fd);
    }
  }
}

/**
 * `dir/name` for a clean directory path and one name read from a directory (never "", ".", ".."
 * nor containing "/"): plain concatenation, as path.join would give without its normalising
 * copy (which, for paths thousands of levels deep, made the garbage of a deep walk).
 */
export const joinPath = (dir: string, name: string) => (dir === "/" ? "/" + name : dir + "/" + name);
