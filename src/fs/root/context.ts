// What the RootFs parts share: the confined root, id names and small helpers
// that do one confined step each.
import * as fs from "node:fs";
import { posix } from "node:path";
import { ConfinedRoot } from "../confine/index.js";
import { idNames, parseIdFile, type IdNames } from "../id-names.js";
import { closeQuietly, fstat, read } from "./fs-sys.js";
import { entryFromStats } from "./entries.js";
import type { Entry } from "../container-fs.js";

const ID_FILE_MAX = 4 * 1024 * 1024;
const ID_NAMES_TTL_MS = 5_000;

export interface Owner {
  uid: number;
  gid: number;
}

export class RootContext {
  private cachedNames?: { at: number; names: IdNames };

  constructor(
    readonly root: ConfinedRoot,
    /** Owner given to new files when the caller names none; undefined = the server's own ids. */
    readonly defaultOwner?: Owner,
  ) {}

  /** Canonical absolute in-root path; throws PathError on bad input. */
  clean(path: string): string {
    return ConfinedRoot.cleanPath(path);
  }

  /** Runs fn with the confined parent directory of path, always closing it. */
  async inParent<T>(path: string, fn: (dirFd: number, name: string, at: (name?: string) => string) => Promise<T>): Promise<T> {
    const parent = this.root.openParent(path);
    try {
      return await fn(parent.dirFd, parent.name, (n = parent.name) => ConfinedRoot.fdPath(parent.dirFd, n));
    } finally {
      parent.close();
    }
  }

  /** Opens path confined (following a final symlink inside the root unless O_NOFOLLOW). */
  open(path: string, flags: number, mode?: number): number {
    return this.root.openFile(path, flags, mode);
  }

  async names(): Promise<IdNames> {
    const now = Date.now();
    if (this.cachedNames && now - this.cachedNames.at < ID_NAMES_TTL_MS) return this.cachedNames.names;
    const [users, groups] = await Promise.all([this.readSmallFile("/etc/passwd"), this.readSmallFile("/etc/group")]);
    const names = idNames(parseIdFile(users), parseIdFile(groups));
    this.cachedNames = { at: now, names };
    return names;
  }

  /** lstat of path (no final symlink followed) as an Entry. */
  async lstatEntry(path: string): Promise<Entry> {
    const names = await this.names();
    // Synchronous, like the confined opens before them: metadata calls take microseconds, while a
    // thread-pool round trip waits behind every file read in flight (Stat latency under load).
    return this.inParent(path, async (dirFd, name, at) => {
      if (name === "") return entryFromStats(path, fs.fstatSync(dirFd, { bigint: true }), names);
      const st = fs.lstatSync(at(), { bigint: true });
      const target = entryIsLink(st) ? fs.readlinkSync(at()) : undefined;
      return entryFromStats(path, st, names, target);
    });
  }

  /** stat of path following symlinks inside the root. */
  async statEntry(path: string): Promise<Entry> {
    const names = await this.names();
    const fd = this.open(path, O_PATH);
    try {
      return entryFromStats(path, fs.fstatSync(fd, { bigint: true }), names);
    } finally {
      closeQuietly(fd);
    }
  }

  /** Reads a small text file inside the root; "" when it is missing or unreadable. */
  private async readSmallFile(path: string): Promise<string> {
    let fd: number | undefined;
    try {
      fd = this.open(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
      const st = await fstat(fd, { bigint: true });
      if ((Number(st.mode) & fs.constants.S_IFMT) !== fs.constants.S_IFREG) return "";
      const size = Math.min(Number(st.size), ID_FILE_MAX);
      const buf = Buffer.alloc(size);
      let off = 0;
      while (off < size) {
        const n = await read(fd, buf, off, size - off, off);
        if (n === 0) break;
        off += n;
      }
      return buf.subarray(0, off).toString("utf8");
    } catch {
      return "";
    } finally {
      closeQuietly(fd);
    }
  }
}

/** O_PATH: an fd that only names a file (fstat, *at calls); not in fs.constants. */
export const O_PATH = 0o10000000;

const entryIsLink = (st: fs.BigIntStats) => (Number(st.mode) & fs.constants.S_IFMT) === fs.constants.S_IFLNK;

export const joinPath = (dir: string, name: string) => posix.join(dir, name);
