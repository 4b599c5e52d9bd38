// The file writes of a tar extraction (on the agent, src/fs/root/tar-extract.ts, and on the client,
// src/client/tar.ts) that are still running while the next members arrive. Writing a small file is
// a chain of filesystem round trips that ends in its fsync (open, write, owner, mode, time, fsync,
// then the name), and one member after the other a tree of small files waited for each in turn:
// 10,000 files of 0–8 KiB took 14–25 s through `podfiles serve` here, the event loop idle 80% of it.
// The disk takes concurrent fsyncs together (ext4 on this VM, 1,000 files of 4 KiB written, fsynced
// and renamed: 0.65–0.78 ms each one at a time, 0.33 with 4 at once, 0.22–0.26 with 16), so an
// extraction lets up to WRITES_IN_FLIGHT files be written while it receives the next members.
// A leaf: node built-ins only, any layer may import it.
//
// What this guarantees: at most `limit` writes run at once; `drain` returns once every write added
// has settled and throws the first failure; `failure` reports it as soon as it happened, so the
// extraction stops at the next member; `overlaps(path)` says whether a running write's path is
// `path` or one of its ancestors, so the caller can wait before it touches that name (the last of two
// members with one name wins, a member below a file still being written fails as it did before).
// Out of scope: what a write does, and the order in which writes that do not overlap finish.

/** Writes one extraction lets run at once: 16 fsyncs together cost a third of 16 one after the other (above). */
export const WRITES_IN_FLIGHT = 16;

export class PendingWrites {
  private readonly running = new Map<Promise<void>, string>();
  private firstFailure: { error: unknown } | undefined;

  constructor(private readonly limit = WRITES_IN_FLIGHT) {}

  /** The first write's failure, once one failed. */
  get failure(): { error: unknown } | undefined {
    return this.firstFailure;
  }

  /** Whether a running write is that of `path` or of one of its ancestors. */
  overlaps(path: string): boolean {
    if (this.running.size === 0) return false;
    for (const running of this.running.values()) {
      if (running === path || path.startsWith(running === "/" ? "/" : `${running}/`)) return true;
    }
    return false;
  }

  /**
   * Takes a write already started for `path`; `done` runs when it settles, whatever the outcome.
   * Returns once fewer than `limit` writes run (waits for one to settle otherwise).
   */
  async add(path: string, write: Promise<void>, done?: () => void): Promise<void> {
    const tracked = write.then(
      () => undefined,
      (error: unknown) => {
        this.firstFailure ??= { error };
      },
    );
    const settled = tracked.finally(() => {
      this.running.delete(settled);
      done?.();
    });
    this.running.set(settled, path);
    while (this.running.size >= this.limit) await Promise.race(this.running.keys());
  }

  /** Waits until every write added has settled; throws the first failure. */
  async drain(): Promise<void> {
    await this.settle();
    if (this.firstFailure) throw this.firstFailure.error;
  }

  /** Waits until every write added has settled, never throws (the extraction's error path). */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.keys());
  }
}
