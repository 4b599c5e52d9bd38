// The commits of a tar extraction's files that are still running while the next members arrive.
// Committing a file is a chain of filesystem round trips that ends in its fsync (owner, mode, time,
// fsync, then the name), and one member after the other a tree of small files waited for each
// fsync in turn: 10,000 files of 0–8 KiB took 14–25 s through `podfiles serve` here, the event loop
// idle 80% of it. The disk takes concurrent fsyncs together (ext4 on this VM, 1,000 files of 4 KiB
// written, fsynced and renamed: 0.65–0.78 ms each one at a time, 0.33 with 4 at once, 0.22–0.26 with
// 16), so an extraction lets up to COMMITS_IN_FLIGHT commits run while it writes the next members.
//
// What this guarantees: at most `limit` commits run at once; `drain` returns once every commit added
// has settled and throws the first failure; `failure` reports it as soon as it happened, so the
// extraction stops at the next member; `overlaps(path)` says whether a running commit's path is
// `path` or one of its ancestors, so the caller can wait before it touches that name (the last of two
// members with one name wins, a member below a file still being committed fails as it did before).
// Out of scope: what a commit does, and the order in which commits that do not overlap finish.

/** Commits one extraction lets run at once: 16 fsyncs together cost a third of 16 one after the other (above). */
export const COMMITS_IN_FLIGHT = 16;

export class PendingCommits {
  private readonly running = new Map<Promise<void>, string>();
  private firstFailure: { error: unknown } | undefined;

  constructor(private readonly limit = COMMITS_IN_FLIGHT) {}

  /** The first commit's failure, once one failed. */
  get failure(): { error: unknown } | undefined {
    return this.firstFailure;
  }

  /** Whether a running commit is that of `path` or of one of its ancestors. */
  overlaps(path: string): boolean {
    if (this.running.size === 0) return false;
    for (const running of this.running.values()) {
      if (running === path || path.startsWith(running === "/" ? "/" : `${running}/`)) return true;
    }
    return false;
  }

  /**
   * Takes a commit already started for `path`; `done` runs when it settles, whatever the outcome.
   * Returns once fewer than `limit` commits run (waits for one to settle otherwise).
   */
  async add(path: string, commit: Promise<void>, done: () => void): Promise<void> {
    const tracked = commit.then(
      () => undefined,
      (error: unknown) => {
        this.firstFailure ??= { error };
      },
    );
    const settled = tracked.finally(() => {
      this.running.delete(settled);
      done();
    });
    this.running.set(settled, path);
    while (this.running.size >= this.limit) await Promise.race(this.running.keys());
  }

  /** Waits until every commit added has settled; throws the first failure. */
  async drain(): Promise<void> {
    await this.settle();
    if (this.firstFailure) throw this.firstFailure.error;
  }

  /** Waits until every commit added has settled, never throws (the extraction's error path). */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running.keys());
  }
}
