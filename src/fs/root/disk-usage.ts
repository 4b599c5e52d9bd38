// DiskUsage on a RootFs: the confined, streaming walk of tree-walk.ts (symlinks counted as
// themselves, never followed) summed by du-totals.ts. A file with several hard links counts once
// per call, as du does: its (dev, inode) is remembered, up to HARDLINKS_REMEMBERED of them.
import type { DiskUsageEntry, DiskUsageOptions } from "../container-fs.js";
import { DuTotals } from "../du-totals.js";
import type { RootContext } from "./context.js";
import { isDirectory } from "./entries.js";
import { walkTree } from "./tree-walk.js";

/** (dev, inode) pairs kept for hard links: about 100 bytes each, so 10 MB at most per call; past it, more links count again. */
export const HARDLINKS_REMEMBERED = 100_000;

export async function* diskUsage(ctx: RootContext, path: string, options: DiskUsageOptions): AsyncGenerator<DiskUsageEntry> {
  if (options.maxDepth < 0) throw new RangeError("maxDepth");
  const names = await ctx.names();
  const dir = await ctx.openDirectory(path, { followFinalSymlink: true });
  const size = (st: { size: bigint; blocks: bigint }) => (options.apparentSize ? st.size : st.blocks * 512n);
  const totals = new DuTotals(path, size(dir.st), options.maxDepth);
  const seen = new Set<string>();
  const walk = walkTree(ctx, dir.fd, path, dir.st, { includeHidden: true, recursive: true, maxDepth: 0, signal: options.signal }, names);
  for await (const w of walk) {
    const dirEntry = isDirectory(w.st);
    let bytes = size(w.st);
    if (!dirEntry && w.st.nlink > 1n) {
      const key = `${w.st.dev}:${w.st.ino}`;
      if (seen.has(key)) bytes = 0n;
      else if (seen.size < HARDLINKS_REMEMBERED) seen.add(key);
    }
    yield* totals.add(w.dir, w.name, dirEntry, bytes);
  }
  yield* totals.finish();
}
