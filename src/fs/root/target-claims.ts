// One writer per target, process-wide. Every upload claims its target before it writes a byte;
// a second upload of the same target (APPEND, create or overwrite) is refused with ABORTED naming
// the first, instead of interleaving with it (two APPENDs: the second one's abort truncated the
// file back below what the first had committed).
//
// Keys name the target by what the kernel sees, not by the request's spelling, so every way of
// reaching a file (another path through a symlinked directory, another /proc/<pid>/root of the
// same container, another cached RootFs) meets the same claim:
//   - "<dev>:<ino>/<name>" of the pinned parent directory and the final name (creates included);
//   - "<dev>:<ino>" of the existing file itself (hard links, a parent reached another way);
//   - the temp file's "<dev>:<ino>/<temp name>", which marks it live for the stale-file sweep.
import type { BigIntStats } from "node:fs";
import { aborted } from "../../errors.js";

export interface TargetClaim {
  /** Frees every key; safe to call more than once. */
  release(): void;
}

interface Holder {
  description: string;
  since: Date;
}

const held = new Map<string, Holder>();

/** The key of a name inside a directory, from the directory's fstat. */
export const nameKey = (dir: BigIntStats, name: string) => `${dir.dev}:${dir.ino}/${name}`;

/** The key of an existing file, from its stat. */
export const fileKey = (file: BigIntStats) => `${file.dev}:${file.ino}`;

/**
 * Claims every key for `description` ("upload 3fa2c1d0", "a streaming Upload") or throws ABORTED
 * naming the upload that holds one of them; all or nothing, checked and taken in one step.
 */
export function claimTarget(path: string, keys: readonly string[], description: string): TargetClaim {
  for (const key of keys) {
    const other = held.get(key);
    if (other) {
      throw aborted(
        `${path}: another upload is writing this file (${other.description}, since ${other.since.toISOString()}); ` +
          "retry once it is committed or aborted (idle chunked uploads expire)",
      );
    }
  }
  const holder: Holder = { description, since: new Date() };
  for (const key of keys) held.set(key, holder);
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      for (const key of keys) if (held.get(key) === holder) held.delete(key);
    },
  };
}

/** Whether an upload in this process holds key (a live temp file is never swept). */
export const isClaimed = (key: string) => held.has(key);

/** How many keys are held (tests check that finished uploads leave none). */
export const claimedKeys = () => held.size;
