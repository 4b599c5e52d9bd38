// A deadline and a cap for filesystem calls on a container path. Such calls run on the libuv
// threadpool, where a hung mount (an NFS server gone, a FUSE daemon that never answers) keeps a
// thread blocked in the kernel for as long as the mount hangs; nothing can interrupt it. So:
// - the call fails after `deadlineMs` with UNAVAILABLE "... did not answer within 10 s (a hung
//   mount?)"; an fd that arrives later is closed (dispose);
// - a call is "stuck" once it is older than `stuckAfterMs` and stays counted until the kernel
//   returns (its pool thread is taken until then, deadline or not); past `perRootCap` stuck calls
//   on one root, or `totalCap` in the process, new guarded calls fail at once, so hung calls can
//   never take the whole pool and calls on healthy paths (file reads, Stat elsewhere) keep theirs.
//   Below the cap a hung mount costs only the calls that touch it; at the cap the whole root
//   answers UNAVAILABLE (which paths hang cannot be known before calling) until calls return.
import { unavailable } from "../../errors.js";

export interface HangGuardOptions {
  /** Fail a call that has not answered after this long (default 10 s). */
  deadlineMs?: number;
  /** Count a call as stuck once it is this old (default 1 s; healthy metadata calls take microseconds). */
  stuckAfterMs?: number;
  /** Refuse new calls on this root while this many are stuck (default 48, at most totalCap). */
  perRootCap?: number;
}

/** libuv's threadpool size in this process (bin/podfiles.js raises it; libuv's default is 4). */
export const threadpoolSize = (): number => Number(process.env.UV_THREADPOOL_SIZE) || 4;

/**
 * Stuck calls allowed in the whole process: half the pool, the other half kept for healthy work
 * (reads, writes, opens on answering paths); with the 128 threads bin/podfiles.js asks for, 64.
 * At least 2, for pools as small as libuv's default 4 (servers started in-process by tests).
 */
export const totalStuckCap = (pool = threadpoolSize()): number => Math.max(2, Math.floor(pool / 2));

const SWEEP_MS = 100;
let stuckInProcess = 0;

interface Pending {
  started: number;
  what: string;
  stuck: boolean;
  expired: boolean;
  fail(err: Error): void;
}

export class HangGuard {
  readonly deadlineMs: number;
  readonly stuckAfterMs: number;
  readonly perRootCap: number;
  readonly totalCap: number;
  private readonly pending = new Set<Pending>();
  private stuck = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(options: HangGuardOptions = {}) {
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.stuckAfterMs = options.stuckAfterMs ?? 1_000;
    this.totalCap = totalStuckCap();
    this.perRootCap = Math.min(options.perRootCap ?? 48, this.totalCap);
  }

  /** Calls on this root not answered for over stuckAfterMs (still holding pool threads). */
  get stuckCalls(): number {
    return this.stuck;
  }

  /**
   * Runs op (one filesystem call on a container path; `what` names the path for messages) with
   * the deadline and the caps. `dispose` receives a result that arrived after the deadline.
   */
  run<T>(what: string, op: () => Promise<T>, dispose?: (late: T) => void): Promise<T> {
    if (this.stuck >= this.perRootCap) {
      return Promise.reject(
        unavailable(
          `${what}: ${this.stuck} calls on this container's filesystem have not answered for over ${seconds(this.stuckAfterMs)} (cap ${this.perRootCap}); refusing more until they do (a hung mount?)`,
        ),
      );
    }
    if (stuckInProcess >= this.totalCap) {
      return Promise.reject(
        unavailable(
          `${what}: ${stuckInProcess} filesystem calls have not answered for over ${seconds(this.stuckAfterMs)} (cap ${this.totalCap} for the server); refusing more until they do (a hung mount?)`,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { started: performance.now(), what, stuck: false, expired: false, fail: reject };
      this.pending.add(entry);
      this.startSweeping();
      const settle = () => {
        this.pending.delete(entry);
        if (entry.stuck) {
          this.stuck--;
          stuckInProcess--;
        }
      };
      let started: Promise<T>;
      try {
        started = op();
      } catch (err) {
        settle();
        reject(err);
        return;
      }
      started.then(
        (value) => {
          settle();
          if (entry.expired) dispose?.(value);
          else resolve(value);
        },
        (err: unknown) => {
          settle();
          reject(err);
        },
      );
    });
  }

  private startSweeping(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.sweep(), SWEEP_MS);
    this.timer.unref();
  }

  private sweep(): void {
    const now = performance.now();
    for (const p of this.pending) {
      const age = now - p.started;
      if (!p.stuck && age >= this.stuckAfterMs) {
        p.stuck = true;
        this.stuck++;
        stuckInProcess++;
      }
      if (!p.expired && age >= this.deadlineMs) {
        p.expired = true;
        p.fail(unavailable(`${p.what}: did not answer within ${seconds(this.deadlineMs)} (a hung mount?)`));
      }
    }
    if (this.pending.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;
