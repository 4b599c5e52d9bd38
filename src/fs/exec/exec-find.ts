// Find through exec: the recursive listing ExecFs already has (find + stat in the container),
// tested by find-filter.ts; a digest reads the file through the same exec download.
import type { ContainerFs, FindMatch, FindOptions } from "../container-fs.js";
import { cleanPath } from "../confine/clean-path.js";
import { compileFindFilter, relativeTo } from "../find-filter.js";
import { digester } from "../digester.js";

export async function* execFind(fs: ContainerFs, path: string, options: FindOptions): AsyncGenerator<FindMatch> {
  const filter = compileFindFilter(options);
  const top = cleanPath(path);
  let found = 0;
  for await (const entry of fs.list(top, { includeHidden: true, recursive: true, maxDepth: options.maxDepth, signal: options.signal })) {
    if (!filter.matches(entry, relativeTo(top, entry.path))) continue;
    let digest: Uint8Array | undefined;
    if (options.digest && entry.type === "regular") {
      try {
        const d = digester(options.digest);
        const stream = await fs.read(entry.path, { format: "raw", offset: 0n, length: 0n, chunkSize: 256 * 1024, signal: options.signal });
        try {
          for await (const chunk of stream.chunks) d.update(chunk);
        } finally {
          await stream.close();
        }
        digest = d.digest();
      } catch {
        options.signal?.throwIfAborted(); // unreadable: the match without a digest
      }
    }
    yield digest ? { entry, digest } : { entry };
    if (options.limit > 0 && ++found >= options.limit) return;
  }
}
