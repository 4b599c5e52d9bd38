// What wakes a following Tail: inotify (fs.watch) on the tailed file and on its directory where
// the kernel delivers events for that filesystem, and a poll in any case. inotify watches inodes,
// so a watch set through /proc/self/fd/<fd> (the pinned, confined inode: no path is resolved
// again) sees the container's own writes through /proc/<pid>/root too. On network and FUSE
// filesystems a writer elsewhere raises no event and setting a watch is a synchronous lookup on
// the event loop that a hung mount could block, so there only the poll runs.
import * as fs from "node:fs";
import { closeQuietly } from "./fs-sys.js";
import type { RootContext } from "./context.js";

/** Poll period without inotify (the brief's 250 ms). */
export const POLL_MS = 250;
/** Poll period next to inotify: a safety net for changes no event reports. */
export const POLL_WITH_INOTIFY_MS = 1000;

// statfs f_type of filesystems whose changes by other machines (or a FUSE daemon) inotify misses
const REMOTE_FS_TYPES = new Set([
  0x6969, // nfs
  0x65735546, // fuse
  0xff534d42, // cifs
  0xfe534d42, // smb2
  0x517b, // smb
  0x00c36400, // ceph
  0x01021997, // 9p
  0x5346414f, // afs
  0x01161970, // gfs2
  0x7461636f, // ocfs2
  0x0bd00bd0, // lustre
]);

export class ChangeWaker {
  private watchers: fs.FSWatcher[] = [];
  private wakeUp: (() => void) | undefined;
  private pending = false;

  constructor(private readonly signal?: AbortSignal) {}

  /** True while inotify watches are set. */
  get watching(): boolean {
    return this.watchers.length > 0;
  }

  /** Watches the file held by `fd` and the directory `parent` (an in-container path), replacing earlier watches. */
  async watch(ctx: RootContext, fd: number, path: string, parent: string): Promise<void> {
    this.unwatch();
    const type = await ctx.guard
      .run(path, () => fs.promises.statfs(`/proc/self/fd/${fd}`))
      .then(
        (s) => s.type,
        () => undefined,
      );
    if (type === undefined || REMOTE_FS_TYPES.has(type >>> 0)) return;
    this.add(`/proc/self/fd/${fd}`, () => true);
    // the directory: only names coming and going (a rotation), not every write to its other files
    const dir = await ctx.openDirectory(parent, { followFinalSymlink: true }).catch(() => undefined);
    if (dir) {
      try {
        this.add(`/proc/self/fd/${dir.fd}`, (event) => event === "rename");
      } finally {
        closeQuietly(dir.fd); // the watch holds the inode, not the fd
      }
    }
  }

  /** Resolves on an event, after the poll period, or when the signal aborts. */
  wait(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal?.removeEventListener("abort", done);
        this.wakeUp = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.watching ? POLL_WITH_INOTIFY_MS : POLL_MS);
      this.signal?.addEventListener("abort", done, { once: true });
      this.wakeUp = done;
    });
  }

  close(): void {
    this.unwatch();
    this.wakeUp?.();
  }

  private wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.pending = true;
  }

  private add(fdPath: string, wanted: (event: string) => boolean): void {
    try {
      const w = fs.watch(fdPath, { persistent: false }, (event) => wanted(event) && this.wake());
      w.on("error", () => undefined); // a watch that fails later leaves the poll
      this.watchers.push(w);
    } catch {
      // ENOSPC (fs.inotify.max_user_watches reached) and the like: the poll carries on alone
    }
  }

  private unwatch(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
