// Opening a file or directory for download. The fd is opened (confined)
// before the first byte is sent, so the header describes exactly what streams.
import * as fs from "node:fs";
import type { ReadOptions, ReadStream } from "../container-fs.js";
import { FileServiceError, failedPrecondition, invalidArgument } from "../../errors.js";
import { entryFromStats } from "./entries.js";
import { closeQuietly, fstat, read } from "./fs-sys.js";
import { chunkPool } from "../headroom.js";
import type { RootContext } from "./context.js";
import { packDirectory } from "./tar-pack.js";

// O_NONBLOCK keeps a FIFO from blocking the open; it changes nothing for regular files.
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

export async function openForRead(ctx: RootContext, path: string, options: ReadOptions & { format: "raw" | "tar" | "auto" }): Promise<ReadStream> {
  const names = await ctx.names();
  const fd = openReadable(ctx, path);
  let handedOver = false;
  try {
    const st = await fstat(fd, { bigint: true });
    const entry = entryFromStats(path, st, names);
    if (entry.type === "directory") {
      if (options.format === "raw") throw failedPrecondition(`${path}: is a directory (ask for the tar format)`);
      if (options.offset !== 0n || options.length !== 0n) throw invalidArgument("offset and length apply to files, not to directory tar streams");
      closeQuietly(fd);
      handedOver = true;
      return packDirectory(ctx, path, entry, options);
    }
    if (entry.type !== "regular") throw failedPrecondition(`${path}: cannot download a ${entry.type}`);
    if (options.format === "tar") throw failedPrecondition(`${path}: tar downloads are for directories`);
    const size = st.size;
    if (options.offset > size) throw new FileServiceError("out-of-range", `offset ${options.offset} is past the end of ${path} (${size} bytes)`);
    const available = size - options.offset;
    const length = options.length === 0n || options.length > available ? available : options.length;
    handedOver = true;
    const release = closeOnce(fd);
    return {
      entry,
      format: "raw",
      offset: options.offset,
      length,
      chunks: readChunks(fd, release, options.offset, length, options.chunkSize, options.signal),
      close: async () => release(),
    };
  } finally {
    if (!handedOver) closeQuietly(fd);
  }
}

/**
 * Reads [offset, offset+length) in chunks of chunkSize. A buffer of its own per
 * chunk from the chunk pool (the transport that sends it may give it back once
 * sent), with spare bytes in front for the transport's framing (see headroom.ts). The file may shrink
 * while we read; we then stop early and the trailer's byte count says so.
 */
export async function* readChunks(fd: number, release: () => void, offset: bigint, length: bigint, chunkSize: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  let position = offset;
  const end = offset + length;
  try {
    while (position < end) {
      signal?.throwIfAborted();
      const want = Number(end - position < BigInt(chunkSize) ? end - position : BigInt(chunkSize));
      const buf = chunkPool.acquire(want);
      let filled = 0;
      while (filled < want) {
        const n = await read(fd, buf, filled, want - filled, position + BigInt(filled));
        if (n === 0) break;
        filled += n;
      }
      if (filled === 0) {
        chunkPool.release(buf);
        return;
      }
      position += BigInt(filled);
      yield chunkPool.shorten(buf, filled);
      if (filled < want) return;
    }
  } finally {
    release();
  }
}

/** A close that runs once: the fd number may be reused by the next open. */
export function closeOnce(fd: number): () => void {
  let open = true;
  return () => {
    if (open) closeQuietly(fd);
    open = false;
  };
}

function openReadable(ctx: RootContext, path: string): number {
  try {
    return ctx.open(path, READ_FLAGS);
  } catch (err) {
    // open(2) of a unix socket fails with ENXIO
    if ((err as NodeJS.ErrnoException).code === "ENXIO") throw failedPrecondition(`${path}: cannot download a socket`);
    throw err;
  }
}
