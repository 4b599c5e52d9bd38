import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** What the addon's readDirStats resolves to: `count` entries, DIR_STATS_FIELDS int64s each (src/fs/confine/dir-stats.ts decodes them). */
export interface RawDirStats {
  names: Buffer;
  stats: BigInt64Array;
  count: number;
  /** getdents returned 0: the directory has been read to its end. */
  done: boolean;
}

/** The Node-API addon built from native/openat2 (`npm run build:native`). */
export interface Openat2Binding {
  /** openat2(2); retries EAGAIN/EINTR a few times; throws an Error with `.code` (errno name) and `.errno` (negative). */
  openat2(dirfd: number, path: string | Buffer, flags: number, mode: number, resolve: number): number;
  /**
   * openat2(2) on the libuv threadpool: a lookup that blocks (a hung FUSE or NFS mount) holds a pool
   * thread, never the event loop. Rejects like openat2 throws; bad arguments throw synchronously.
   */
  openat2Async(dirfd: number, path: string | Buffer, flags: number, mode: number, resolve: number): Promise<number>;
  /** Whether this kernel supports openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS. */
  supported(): boolean;
  /** renameat2(2) of single names inside directory fds; throws like openat2. */
  renameat2(olddirfd: number, oldname: string | Buffer, newdirfd: number, newname: string | Buffer, flags: number): void;
  /**
   * A batch of the entries of the directory open for reading on dirfd, each with its
   * fstatat(AT_SYMLINK_NOFOLLOW) and a symlink's target, on the threadpool (src/fs/confine/dir-stats.ts
   * decodes it and states what it guarantees). Absent from an addon built before it existed.
   */
  readDirStats?(dirfd: number, maxEntries: number, skipHidden: boolean): Promise<RawDirStats>;
  /**
   * Opens the subdirectory `name` (one component) of dirfd for reading, with no symlink followed,
   * and reads its first batch as readDirStats does, in one threadpool job; `fd` is the opened
   * directory, the caller's to read on and close. Absent from an addon built before it existed.
   */
  openDirStats?(dirfd: number, name: string | Buffer, maxEntries: number, skipHidden: boolean): Promise<RawDirStats & { fd: number }>;
  /**
   * fchown (unless both ids are -1), fchmod, futimens (unless nanos < 0) and fsync of fd, then
   * renameat2(dirfd, tempName, dirfd, name, noReplace ? RENAME_NOREPLACE : 0), in one threadpool
   * job; the first step that fails stops it and the rejection's `.syscall` names that step
   * (native/openat2/openat2.c states the guarantees). Absent from an addon built before it existed.
   */
  commitFile?(
    fd: number,
    uid: number,
    gid: number,
    mode: number,
    seconds: bigint,
    nanos: number,
    dirfd: number,
    tempName: string | Buffer,
    name: string | Buffer,
    noReplace: boolean,
  ): Promise<void>;
}

export interface NativeStatus {
  /** The addon, when it loaded and the kernel supports openat2. */
  binding: Openat2Binding | undefined;
  /** Why the addon is unusable (undefined when usable). */
  reason: string | undefined;
}

const ADDON = join("native", "openat2", "build", "Release", "openat2.node");

/** Finds the addon: $PODFILES_OPENAT2_ADDON, else native/openat2/build in the nearest ancestor of this module. */
function findAddon(): string | undefined {
  const fromEnv = process.env.PODFILES_OPENAT2_ADDON;
  if (fromEnv) return fromEnv;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

let cached: NativeStatus | undefined;

/** Loads and probes the addon once per process. Never throws and never logs. */
export function nativeStatus(): NativeStatus {
  if (cached) return cached;
  if (process.platform !== "linux") {
    return (cached = { binding: undefined, reason: `openat2 is Linux-only (platform ${process.platform})` });
  }
  const file = findAddon();
  if (!file) {
    return (cached = { binding: undefined, reason: `addon not built (${ADDON} not found; run npm run build:native)` });
  }
  try {
    const binding = createRequire(import.meta.url)(file) as Openat2Binding;
    if (!binding.supported()) {
      return (cached = { binding: undefined, reason: "kernel does not support openat2 RESOLVE_IN_ROOT (Linux >= 5.6)" });
    }
    return (cached = { binding, reason: undefined });
  } catch (e) {
    return (cached = { binding: undefined, reason: `addon failed to load: ${(e as Error).message}` });
  }
}
