// Directory listing that streams: entries are yielded as they are read (tree-walk.ts), so
// 100,000 entries are never held at once, and a tree of any depth lists iteratively.
import type { Entry, ListOptions } from "../container-fs.js";
import type { RootContext } from "./context.js";
import { walkTree } from "./tree-walk.js";

export async function* listEntries(ctx: RootContext, path: string, options: ListOptions): AsyncGenerator<Entry> {
  const names = await ctx.names();
  // The top directory may be reached through a symlink (like `ls dir/`); below
  // it, symlinks to directories are listed as links and never descended into.
  const dir = await ctx.openDirectory(path, { followFinalSymlink: true });
  for await (const walked of walkTree(ctx, dir.fd, path, dir.st, options, names)) yield walked.entry;
}
