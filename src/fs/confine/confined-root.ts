import { closeSync, openSync } from "node:fs";
import { cleanPath, pathComponents } from "./clean-path.js";
import {
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_PATH,
  O_TMPFILE,
  O_NOFOLLOW,
  PATH_MAX,
  RENAME_NOREPLACE,
  RESOLVE_BENEATH,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
  RESOLVE_NO_SYMLINKS,
} from "./constants.js";
import { asSystemError, systemError } from "./errors.js";
import { fdPath, realPathOrClose } from "./fd-path.js";
import { pathFromWire } from "../name-bytes.js";
import { type DirStatsBatch, openDirStats, readDirStats } from "./dir-stats.js";
import { nativeStatus, type Openat2Binding } from "./native.js";
import { walk, walkBeneath } from "./walk.js";

export type Strategy = "openat2" | "walk";

export interface ConfinedRootOptions {
  /** "auto" (default): openat2 when the addon loads and the kernel supports it, else "walk". */
  strategy?: Strategy | "auto";
}

/** An opened parent directory and the final component's name; see ConfinedRoot.openParent. */
export interface OpenedParent {
  dirFd: number;
  name: string;
  close(): void;
}

const RESOLVE = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
/** For openBeneath: no component may be a symlink or "..", and nothing leaves the start directory. */
const RESOLVE_STRICTLY_BENEATH = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;

/**
 * A root directory opened once; every path is resolved relative to its fd as if it were "/":
 * "..", absolute and relative symlinks never leave it. Resolution runs on the libuv threadpool
 * (the addon's async openat2, or the walk's fs callbacks): a lookup on a hung mount in the
 * container holds one pool thread, never the event loop. Only opening the root itself is synchronous.
 */
export class ConfinedRoot {
  private fd: number;

  private constructor(
    readonly path: string,
    readonly strategy: Strategy,
    /** Why "auto" fell back to "walk" (undefined when it did not). */
    readonly fallbackReason: string | undefined,
    fd: number,
    private readonly real: string,
    private readonly binding: Openat2Binding | undefined,
  ) {
    this.fd = fd;
  }

  /** Opens the root directory (following symlinks in rootPath itself, e.g. /proc/<pid>/root). */
  static open(rootPath: string, options: ConfinedRootOptions = {}): ConfinedRoot {
    const wanted = options.strategy ?? "auto";
    const status = wanted === "walk" ? undefined : nativeStatus();
    if (wanted === "openat2" && !status?.binding) {
      throw new Error(`openat2 strategy unavailable: ${status?.reason}`);
    }
    const strategy: Strategy = status?.binding ? "openat2" : "walk";
    const fallbackReason = wanted === "auto" && strategy === "walk" ? status?.reason : undefined;
    const fd = openSync(rootPath, O_PATH | O_DIRECTORY | O_CLOEXEC);
    const real = realPathOrClose(fd);
    return new ConfinedRoot(rootPath, strategy, fallbackReason, fd, real, status?.binding);
  }

  /** Whether the openat2 addon is usable in this process, and why not. */
  static nativeStatus(): { available: boolean; reason: string | undefined } {
    const s = nativeStatus();
    return { available: s.binding !== undefined, reason: s.reason };
  }

  /** `/proc/self/fd/<dirFd>/<name>`; name must be one component ("" for the directory itself). */
  static fdPath(dirFd: number, name?: string): string | Buffer {
    return fdPath(dirFd, name);
  }

  /** The canonical absolute in-root form of a request path ("/a/b"); throws PathError for bad input. */
  static cleanPath(path: string): string {
    return cleanPath(path);
  }

  /**
   * Opens `path` inside the root with open(2) `flags` (O_NOFOLLOW applies to the last component)
   * and returns a raw fd the caller closes. The request path is cleaned lexically first
   * ("/a/../b" is "/b"); ".." inside symlink targets is resolved physically, clamped at the root.
   */
  async openFile(path: string, flags: number, mode = 0o666): Promise<number> {
    const components = pathComponents(path);
    const root = this.rootFd();
    const clean = "/" + components.join("/");
    try {
      if (this.binding) {
        const withMode = (flags & O_CREAT) !== 0 || (flags & O_TMPFILE) === O_TMPFILE;
        const rel = components.length > 0 ? kernelPath(components) : ".";
        return await this.binding.openat2Async(root, rel, flags | O_CLOEXEC, withMode ? mode : 0, RESOLVE);
      }
      return await walk({ fd: root, real: this.real }, components, clean, { flags, mode });
    } catch (e) {
      throw asSystemError(e, "open", clean);
    }
  }

  /**
   * Opens the directory `names` (single components) below the directory fd `dirFd` as O_PATH,
   * following no symlink on any component and never leaving dirFd (openat2 RESOLVE_BENEATH |
   * RESOLVE_NO_SYMLINKS, in steps of under PATH_MAX bytes; the walk: one O_NOFOLLOW step per name).
   * For reopening a directory deep in a tree walk from a kept ancestor. `reqPath` names errors.
   */
  async openBeneath(dirFd: number, names: readonly string[], reqPath: string): Promise<number> {
    try {
      if (!this.binding) return await walkBeneath(dirFd, names);
      const flags = O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
      let fd = await this.binding.openat2Async(dirFd, ".", flags, 0, RESOLVE_STRICTLY_BENEATH);
      for (let i = 0; i < names.length; ) {
        let rel = names[i++]!;
        while (i < names.length && (rel.length + names[i]!.length + 1) * 3 < PATH_MAX) rel += "/" + names[i++]!; // UTF-16 units: <= 3 bytes each in UTF-8 (an escape's 4 units stand for 1 byte)
        try {
          const next = await this.binding.openat2Async(fd, kernelPath(rel.split("/")), flags, 0, RESOLVE_STRICTLY_BENEATH);
          closeSync(fd);
          fd = next;
        } catch (e) {
          closeSync(fd);
          throw e;
        }
      }
      return fd;
    } catch (e) {
      throw asSystemError(e, "open", reqPath);
    }
  }

  /**
   * Opens the parent directory of `path` (O_PATH, every component followed, confined) and returns it
   * with the last component's name, which is never followed: do *at-style operations on
   * ConfinedRoot.fdPath(dirFd, name). For the root itself name is "" and dirFd is the root.
   */
  async openParent(path: string): Promise<OpenedParent> {
    const components = pathComponents(path);
    const root = this.rootFd();
    const name = components.length > 0 ? components[components.length - 1]! : "";
    const parent = components.slice(0, -1);
    const clean = "/" + parent.join("/");
    let dirFd: number;
    try {
      dirFd = this.binding
        ? await this.binding.openat2Async(root, parent.length > 0 ? kernelPath(parent) : ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE)
        : await walk({ fd: root, real: this.real }, parent, clean);
    } catch (e) {
      throw asSystemError(e, "open", clean);
    }
    let closed = false;
    return {
      dirFd,
      name,
      close: () => {
        if (!closed) closeSync(dirFd);
        closed = true;
      },
    };
  }

  /**
   * Renames `fromName` in dir fd `fromDirFd` to `toName` in `toDirFd` (fds from openParent) only if
   * the target does not exist, atomically (renameat2 RENAME_NOREPLACE; EEXIST otherwise). Returns
   * false, doing nothing, where the addon is not in use: the caller then checks and renames itself.
   */
  renameNoReplace(fromDirFd: number, fromName: string, toDirFd: number, toName: string): boolean {
    if (!this.binding) return false;
    try {
      this.binding.renameat2(fromDirFd, pathFromWire(fromName), toDirFd, pathFromWire(toName), RENAME_NOREPLACE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOSYS") return false; // kernel or filesystem without renameat2
      throw e;
    }
    return true;
  }

  /** Whether commitFile can be used: the addon is in use and has it. */
  get commitsFiles(): boolean {
    return typeof this.binding?.commitFile === "function";
  }

  /**
   * Makes an uploaded temp file final in one threadpool job (the addon's commitFile: owner unless
   * both ids are -1, mode, both times unless `time` is undefined, fsync, then the rename of
   * `tempName` to `name` in `dirFd`, never replacing an existing name with `noReplace`). A failed
   * step rejects with a system error whose `.syscall` names it (and `reqPath`), and nothing after it
   * ran. Only where commitsFiles.
   */
  async commitFile(
    fd: number,
    attributes: { uid: number; gid: number; mode: number; time?: { seconds: bigint; nanos: number } },
    dirFd: number,
    tempName: string,
    name: string,
    noReplace: boolean,
    reqPath: string,
  ): Promise<void> {
    const commit = this.binding?.commitFile;
    if (!commit) throw systemError("ENOSYS", "rename", reqPath);
    const { uid, gid, mode, time } = attributes;
    try {
      await commit.call(this.binding, fd, uid, gid, mode, time?.seconds ?? 0n, time?.nanos ?? -1, dirFd, pathFromWire(tempName), pathFromWire(name), noReplace);
    } catch (e) {
      throw asSystemError(e, (e as { syscall?: string }).syscall ?? "rename", reqPath);
    }
  }

  /** Whether readDirectoryStats and openDirectoryStats can be used: the addon is in use and has them. */
  get readsDirectoryStats(): boolean {
    return typeof this.binding?.readDirStats === "function" && typeof this.binding.openDirStats === "function";
  }

  /**
   * Opens the directory held by the O_PATH fd `dirFd` for reading (getdents needs a readable fd):
   * openat2(dirFd, ".", O_RDONLY | O_DIRECTORY, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) on the
   * threadpool, the very directory the fd holds and nothing else. Only where readsDirectoryStats.
   */
  async openDirectoryForReading(dirFd: number, reqPath: string): Promise<number> {
    if (!this.binding) throw systemError("ENOSYS", "open", reqPath);
    try {
      return await this.binding.openat2Async(dirFd, ".", O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0, RESOLVE_STRICTLY_BENEATH);
    } catch (e) {
      throw asSystemError(e, "open", reqPath);
    }
  }

  /**
   * The next batch (at most maxEntries) of the entries of the directory open for reading on
   * `readFd` (openDirectoryForReading), with their lstat and symlink targets, read relative to
   * that fd with no path resolved beyond one name (src/fs/confine/dir-stats.ts). Only where
   * readsDirectoryStats.
   */
  async readDirectoryStats(readFd: number, maxEntries: number, skipHidden: boolean, reqPath: string): Promise<DirStatsBatch> {
    const binding = this.binding;
    if (!binding?.readDirStats) throw systemError("ENOSYS", "scandir", reqPath);
    try {
      return await readDirStats({ readDirStats: binding.readDirStats.bind(binding) }, readFd, maxEntries, skipHidden);
    } catch (e) {
      throw asSystemError(e, "scandir", reqPath);
    }
  }

  /**
   * Opens the subdirectory `name` (one component) of the directory fd `dirFd` for reading, with
   * no symlink followed and nothing but a directory opened, and reads its first batch, in one
   * threadpool job (src/fs/confine/dir-stats.ts). The caller closes the fd it resolves to. Only
   * where readsDirectoryStats.
   */
  async openDirectoryStats(
    dirFd: number,
    name: string,
    maxEntries: number,
    skipHidden: boolean,
    reqPath: string,
  ): Promise<{ fd: number; batch: DirStatsBatch }> {
    const binding = this.binding;
    if (!binding?.openDirStats) throw systemError("ENOSYS", "open", reqPath);
    try {
      return await openDirStats({ openDirStats: binding.openDirStats.bind(binding) }, dirFd, name, maxEntries, skipHidden);
    } catch (e) {
      throw asSystemError(e, "open", reqPath);
    }
  }

  /** Closes the root fd; later calls throw EBADF. */
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private rootFd(): number {
    if (this.fd < 0) throw systemError("EBADF", "open", this.path);
    return this.fd;
  }
}

/** Components (API strings) joined as the kernel path: a Buffer when one is a non-UTF-8 name's escaped form. */
function kernelPath(components: readonly string[]): string | Buffer {
  const parts = components.map(pathFromWire);
  if (parts.every((p) => typeof p === "string")) return components.join("/");
  const slash = Buffer.from("/");
  return Buffer.concat(parts.flatMap((p, i) => [...(i > 0 ? [slash] : []), typeof p === "string" ? Buffer.from(p) : p]));
}
