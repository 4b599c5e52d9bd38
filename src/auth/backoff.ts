// Back-off for failed Basic logins, per key (a client name, a source address).
// The first `freeFailures` failures cost nothing; each one after that doubles
// a lock-out (base, 2·base, … up to max) during which every attempt for that
// key is refused without looking at the password. Failures are forgotten
// `forgetMs` after the last one; a success clears the key.
export interface BackoffOptions {
  freeFailures?: number;
  baseMs?: number;
  maxMs?: number;
  forgetMs?: number;
  /** Bound on tracked keys (oldest dropped first). */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  failures: number;
  last: number;
  lockedUntil: number;
}

export class Backoff {
  private readonly entries = new Map<string, Entry>();
  private readonly free: number;
  private readonly base: number;
  private readonly max: number;
  private readonly forget: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(o: BackoffOptions = {}) {
    this.free = o.freeFailures ?? 3;
    this.base = o.baseMs ?? 1000;
    this.max = o.maxMs ?? 5 * 60_000;
    this.forget = o.forgetMs ?? 15 * 60_000;
    this.maxEntries = o.maxEntries ?? 10_000;
    this.now = o.now ?? Date.now;
  }

  /** Milliseconds until `key` may try again (0: now). */
  wait(key: string): number {
    const e = this.live(key);
    return e ? Math.max(0, e.lockedUntil - this.now()) : 0;
  }

  fail(key: string): void {
    const now = this.now();
    const e = this.live(key) ?? { failures: 0, last: now, lockedUntil: 0 };
    e.failures++;
    e.last = now;
    const over = e.failures - this.free;
    if (over > 0) e.lockedUntil = now + Math.min(this.max, this.base * 2 ** Math.min(over - 1, 30));
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, e);
  }

  succeed(key: string): void {
    this.entries.delete(key);
  }

  private live(key: string): Entry | undefined {
    const e = this.entries.get(key);
    if (e && this.now() - e.last > this.forget && this.now() >= e.lockedUntil) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }
}
