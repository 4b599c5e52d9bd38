// A directory's entries with their lstat, read in batches by the addon's readDirStats: one libuv
// threadpool job per batch (getdents64 + fstatat + readlinkat on the held directory fd) instead
// of one job per entry for an lstat through /proc/self/fd/N/name.
//
// Guarantees (those of readDirStats in native/openat2/openat2.c): every name comes from getdents
// on the directory fd itself, one component, never "." or ".."; every stat is fstatat(fd, name,
// AT_SYMLINK_NOFOLLOW) and every symlink target readlinkat(fd, name), relative to that fd: no
// path is resolved beyond that one name, no symlink is followed, nothing is opened (FIFOs and
// devices cannot block it). An entry removed between getdents and fstatat is left out. Names
// and targets are the raw bytes, turned into API strings by wireFromBytes (non-UTF-8 names
// round-trip as they do through opendir with buffer names). Memory per batch is bounded by
// maxEntries (names ≤ 255 bytes, targets < 4096).
// openDirStats opens a subdirectory by its name (one component, not "." or "..", with openat2
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS and O_NOFOLLOW | O_DIRECTORY: a symlink or anything but a
// directory put there fails, nothing else is opened) and reads its first batch in the same job.
// Out of scope: a snapshot of the directory (entries made or removed while reading may or may
// not be seen, as with readdir(3)); what a name stands for later (open it beneath the held fd
// with no symlink followed); bounding a call that blocks in the kernel (a hung mount holds its
// pool thread until the kernel returns): callers put each batch under their hang guard.
import { pathFromWire, wireFromBytes } from "../name-bytes.js";
import type { Openat2Binding, RawDirStats } from "./native.js";

// The field layout of one entry in RawDirStats.stats (the enum DS_* in openat2.c).
const NAME_OFF = 0;
const NAME_LEN = 1;
const MODE = 2;
const UID = 3;
const GID = 4;
const SIZE = 5;
const BLOCKS = 6;
const DEV = 7;
const INO = 8;
const NLINK = 9;
const RDEV = 10;
const ATIME_NS = 11;
const MTIME_NS = 12;
const CTIME_NS = 13;
const LINK_OFF = 14;
const LINK_LEN = 15;
export const DIR_STATS_FIELDS = 16;
/** The most entries one call may ask for (the addon refuses more). */
export const DIR_STATS_MAX_ENTRIES = 65536;

/** The lstat fields of an entry, as bigints like fs.BigIntStats (same names, same values). */
export interface DirEntryStats {
  mode: bigint;
  uid: bigint;
  gid: bigint;
  size: bigint;
  blocks: bigint;
  dev: bigint;
  ino: bigint;
  nlink: bigint;
  rdev: bigint;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  /**
   * Milliseconds, rounded down (as Node 20's fs.BigIntStats' mtimeMs; Node 24's rounds toward zero
   * before 1970: −147034494013.000011 ms gave −147034494013 in CI, this −147034494014).
   */
  mtimeMs: bigint;
}

export interface DirStatsEntry {
  /** The API string of the name (src/fs/name-bytes.ts). */
  name: string;
  st: DirEntryStats;
  /** A symlink's target as an API string; "" when it could not be read; undefined for other types. */
  target: string | undefined;
}

export interface DirStatsBatch {
  entries: DirStatsEntry[];
  done: boolean;
}

const S_IFMT = 0o170000n;
const S_IFLNK = 0o120000n;
const MS = 1_000_000n;

/** ns → ms rounded toward -∞ (fs.BigIntStats: sec * 1000 + floor(nsec / 1e6), nsec ≥ 0). */
const floorMs = (ns: bigint): bigint => {
  const q = ns / MS;
  return ns < 0n && q * MS !== ns ? q - 1n : q;
};

/** Decodes one RawDirStats into entries. */
export function decodeDirStats(raw: RawDirStats): DirStatsBatch {
  const { names, stats, count } = raw;
  const entries: DirStatsEntry[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const b = i * DIR_STATS_FIELDS;
    const off = Number(stats[b + NAME_OFF]);
    const mode = stats[b + MODE]!;
    const mtimeNs = stats[b + MTIME_NS]!;
    let target: string | undefined;
    if ((mode & S_IFMT) === S_IFLNK) {
      const len = Number(stats[b + LINK_LEN]);
      const at = Number(stats[b + LINK_OFF]);
      target = len < 0 ? "" : wireFromBytes(names.subarray(at, at + len));
    }
    entries[i] = {
      name: wireFromBytes(names.subarray(off, off + Number(stats[b + NAME_LEN]))),
      st: {
        mode,
        uid: stats[b + UID]!,
        gid: stats[b + GID]!,
        size: stats[b + SIZE]!,
        blocks: stats[b + BLOCKS]!,
        dev: stats[b + DEV]!,
        ino: stats[b + INO]!,
        nlink: stats[b + NLINK]!,
        rdev: stats[b + RDEV]!,
        atimeNs: stats[b + ATIME_NS]!,
        mtimeNs,
        ctimeNs: stats[b + CTIME_NS]!,
        mtimeMs: floorMs(mtimeNs),
      },
      target,
    };
  }
  return { entries, done: raw.done };
}

/**
 * The next batch of at most `maxEntries` entries of the directory open for reading on `readFd`
 * (not an O_PATH fd: getdents needs a readable one; open "." beneath the O_PATH fd), continuing
 * from the fd's offset. Rejects with an errno-coded error (ENOTDIR for an fd that is not a
 * directory, EBADF for an O_PATH one); bad arguments throw synchronously.
 */
export async function readDirStats(
  binding: Required<Pick<Openat2Binding, "readDirStats">>,
  readFd: number,
  maxEntries: number,
  skipHidden: boolean,
): Promise<DirStatsBatch> {
  return decodeDirStats(await binding.readDirStats(readFd, maxEntries, skipHidden));
}

/**
 * Opens the subdirectory `name` (an API string, one component) of the directory fd `dirFd` for
 * reading, with no symlink followed, and reads its first batch of at most `maxEntries`, in one
 * threadpool job. Resolves to the opened fd (the caller's to go on with readDirStats and to
 * close) and the batch; rejects with an errno-coded error (ENOENT, ELOOP for a symlink, ENOTDIR,
 * EACCES) with nothing left open.
 */
export async function openDirStats(
  binding: Required<Pick<Openat2Binding, "openDirStats">>,
  dirFd: number,
  name: string,
  maxEntries: number,
  skipHidden: boolean,
): Promise<{ fd: number; batch: DirStatsBatch }> {
  const raw = await binding.openDirStats(dirFd, pathFromWire(name), maxEntries, skipHidden);
  return { fd: raw.fd, batch: decodeDirStats(raw) };
}
