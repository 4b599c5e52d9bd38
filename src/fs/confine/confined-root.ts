import { closeSync, openSync } from "node:fs";
import { cleanPath, pathComponents } from "./clean-path.js";
import {
  O_CLOEXEC,
  O_CREAT,
  O_DIRECTORY,
  O_PATH,
  O_TMPFILE,
  RENAME_NOREPLACE,
  RESOLVE_IN_ROOT,
  RESOLVE_NO_MAGICLINKS,
} from "./constants.js";
import { asSystemError, systemError } from "./errors.js";
import { fdPath, realPathOrClose } from "./fd-path.js";
import { nativeStatus, type Openat2Binding } from "./native.js";
import { walk } from "./walk.js";

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

/**
 * A root directory opened once; every path is resolved relative to its fd as if it were "/":
 * "..", absolute and relative symlinks never leave it.
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
  static fdPath(dirFd: number, name?: string): string {
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
  openFile(path: string, flags: number, mode = 0o666): number {
    const components = pathComponents(path);
    const root = this.rootFd();
    const clean = "/" + components.join("/");
    try {
      if (this.binding) {
        const withMode = (flags & O_CREAT) !== 0 || (flags & O_TMPFILE) === O_TMPFILE;
        const rel = components.length > 0 ? components.join("/") : ".";
        return this.binding.openat2(root, rel, flags | O_CLOEXEC, withMode ? mode : 0, RESOLVE);
      }
      return walk({ fd: root, real: this.real }, components, clean, { flags, mode });
    } catch (e) {
      throw asSystemError(e, "open", clean);
    }
  }

  /**
   * Opens the parent directory of `path` (O_PATH, every component followed, confined) and returns it
   * with the last component's name, which is never followed: do *at-style operations on
   * ConfinedRoot.fdPath(dirFd, name). For the root itself name is "" and dirFd is the root.
   */
  openParent(path: string): OpenedParent {
    const components = pathComponents(path);
    const root = this.rootFd();
    const name = components.length > 0 ? components[components.length - 1]! : "";
    const parent = components.slice(0, -1);
    const clean = "/" + parent.join("/");
    let dirFd: number;
    try {
      dirFd = this.binding
        ? this.binding.openat2(root, parent.length > 0 ? parent.join("/") : ".", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, RESOLVE)
        : walk({ fd: root, real: this.real }, parent, clean);
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
      this.binding.renameat2(fromDirFd, fromName, toDirFd, toName, RENAME_NOREPLACE);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOSYS") return false; // kernel or filesystem without renameat2
      throw e;
    }
    return true;
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
