// Opening a file or directory for download. The fd is opened (confined)
// before the first byte is sent, so the header describes exactly what streams.
import * as fs from "node:fs";
import type { ReadOptions, ReadStream } from "../container-fs.js";
import { FileServiceError, cannotOpenType, failedPrecondition, invalidArgument } from "../../errors.js";
import { entryFromStats } from "./entries.js";
import { closeQuietly, read } from "./fs-sys.js";
import { chunkPool } from "../headroom.js";
import type { RootContext } from "./context.js";
import { packDirectory } from "./tar-pack.js";

// O_NONBLOCK: a regular file ignores it; it is there in case anything but one ever reached the open.
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

/**
 * Decides the type on an O_PATH fd before opening anything: a regular file is reopened for
 * reading, a directory's O_PATH fd goes to the tar packer (which lists from it, never reopening
 * the path by name), and a FIFO, socket or device is refused without being opened.
 */
export async function openForRead(ctx: RootContext, path: string, options: ReadOptions & { format: "raw" | "tar" | "auto" }): Promise<ReadStream> {
  const names = await ctx.names();
  const pin = await ctx.pin(path, { followFinalSymlink: true });
  let handedOver = false;
  try {
    const entry = entryFromStats(path, pin.st, names);
    if (entry.type === "directory") {
      if (options.format === "raw") throw failedPrecondition(`${path}: is a directory (ask for the tar format)`);
      if (options.offset !== 0n || options.length !== 0n) throw invalidArgument("offset and length apply to files, not to directory tar streams");
      handedOver = true;
      return packDirectory(ctx, { fd: pin.pathFd, st: pin.st }, path, entry, options);
    }
    if (entry.type !== "regular") throw cannotOpenType(path, "download", entry.type);
    if (options.format === "tar") throw failedPrecondition(`${path}: tar downloads are for directories`);
    const size = pin.st.size;
    if (options.offset > size) throw new FileServiceError("out-of-range", `offset ${options.offset} is past the end of ${path} (${size} bytes)`);
    const available = size - options.offset;
    const length = options.length === 0n || options.length > available ? available : options.length;
    handedOver = true; // reopen closes the O_PATH fd
    const file = new ReadFd(await ctx.reopen(pin, path, READ_FLAGS, { allow: ["regular"], verb: "download" }));
    return {
      entry,
      format: "raw",
      offset: options.offset,
      length,
      chunks: readChunks(file, options.offset, length, options.chunkSize, options.signal),
      close: async () => file.close(),
    };
  } finally {
    if (!handedOver) closeQuietly(pin.pathFd);
  }
}

/**
 * The fd of a download. Closed once, and only after the reads in flight have finished: a close
 * while the threadpool still reads would let the next open() reuse the number under that read.
 */
export class ReadFd {
  private inFlight = 0;
  private closing = false;
  private closed = false;

  constructor(readonly fd: number) {}

  async read(buffer: Uint8Array, offset: number, length: number, position: bigint): Promise<number> {
    if (this.closing) throw new Error("read after close");
    this.inFlight++;
    try {
      return await read(this.fd, buffer, offset, length, position);
    } finally {
      this.inFlight--;
      if (this.closing) this.closeNow();
    }
  }

  /** Closes now, or as soon as the reads in flight finish. Idempotent. */
  close(): void {
    this.closing = true;
    this.closeNow();
  }

  private closeNow(): void {
    if (this.closed || this.inFlight > 0) return;
    this.closed = true;
    closeQuietly(this.fd);
  }
}

/**
 * Reads [offset, offset+length) in chunks of chunkSize, one chunk ahead: the next read runs in
 * the threadpool while the caller hashes and sends the current chunk. A buffer of its own per
 * chunk from the chunk pool (the transport that sends it may give it back once sent), with spare
 * bytes in front for the transport's framing (see headroom.ts). The file may shrink while we
 * read; we then stop early and the trailer's byte count says so. The fd closes at the end.
 */
export async function* readChunks(file: ReadFd, offset: bigint, length: bigint, chunkSize: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const end = offset + length;
  const sizeAt = (position: bigint) => Number(end - position < BigInt(chunkSize) ? end - position : BigInt(chunkSize));
  let position = offset;
  let next = position < end ? readChunk(file, position, sizeAt(position)) : undefined;
  try {
    while (next) {
      signal?.throwIfAborted();
      const want = sizeAt(position);
      const chunk = await next;
      next = undefined;
      if (!chunk) return;
      position += BigInt(chunk.length);
      if (chunk.length === want && position < end) next = readChunk(file, position, sizeAt(position));
      yield chunk;
    }
  } finally {
    // a read-ahead nobody will take: let it finish (its buffer is dropped), then the fd may close
    if (next) await next.then((c) => c && chunkPool.release(c), () => undefined);
    file.close();
  }
}

/** One chunk at `position`: up to `want` bytes (fewer at the end of a shrunk file), undefined at EOF. */
async function readChunk(file: ReadFd, position: bigint, want: number): Promise<Buffer | undefined> {
  const buf = chunkPool.acquire(want);
  let filled = 0;
  while (filled < want) {
    const n = await file.read(buf, filled, want - filled, position + BigInt(filled));
    if (n === 0) break;
    filled += n;
  }
  if (filled === 0) {
    chunkPool.release(buf);
    return undefined;
  }
  return chunkPool.shorten(buf, filled);
}
