// Find on a RootFs: the confined, streaming walk of tree-walk.ts (symlinks never followed below
// the top; at most its bounded set of fds), each entry tested by find-filter.ts.
import type { FindMatch, FindOptions } from "../container-fs.js";
import { compileFindFilter, relativeTo } from "../find-filter.js";
import type { RootContext } from "./context.js";
import { digestAt } from "./file-digest.js";
import { walkTree } from "./tree-walk.js";

export async function* findEntries(ctx: RootContext, path: string, options: FindOptions): AsyncGenerator<FindMatch> {
  const filter = compileFindFilter(options); // bad input fails before anything is opened
  const names = await ctx.names();
  // the top may be reached through a symlink inside the root (like `find dir/`), nothing below it
  const dir = await ctx.openDirectory(path, { followFinalSymlink: true });
  let found = 0;
  const walk = walkTree(ctx, dir.fd, path, dir.st, { includeHidden: true, recursive: true, maxDepth: options.maxDepth, signal: options.signal }, names);
  for await (const w of walk) {
    if (!filter.matches(w.entry, relativeTo(path, w.entry.path))) continue;
    const digest =
      options.digest && w.entry.type === "regular" ? await digestAt(ctx, w.dirFd, w.name, w.entry.path, options.digest, options.signal) : undefined;
    yield digest ? { entry: w.entry, digest } : { entry: w.entry };
    if (options.limit > 0 && ++found >= options.limit) return;
  }
}
