// The fd of a download and the chunked reads from it (files, and the file entries of a tar stream).
import { chunkPool } from "../headroom.js";
import { closeQuietly, read } from "./fs-sys.js";

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
  let next = position < end ? readAhead(file, position, sizeAt(position)) : undefined;
  try {
    while (next) {
      signal?.throwIfAborted();
      const want = sizeAt(position);
      const chunk = await next;
      next = undefined;
      if (!chunk) return;
      position += BigInt(chunk.length);
      if (chunk.length === want && position < end) next = readAhead(file, position, sizeAt(position));
      yield chunk;
    }
  } finally {
    // a read-ahead nobody will take: let it finish (its buffer is dropped), then the fd may close
    if (next)
      await next.then(
        (c) => c && chunkPool.release(c),
        () => undefined,
      );
    file.close();
  }
}

/**
 * The read of the next chunk, started before the caller asks for it. Marked as handled at once: a
 * caller that stops iterating without returning the generator (a consumer stuck on a destroyed
 * sink) leaves it unawaited, and its failure (the fd closed under it: "read after close") must not
 * become an unhandled rejection, which ends the process. Whoever awaits it still gets the error.
 */
function readAhead(file: ReadFd, position: bigint, want: number): Promise<Buffer | undefined> {
  const pending = readChunk(file, position, want);
  pending.catch(() => undefined);
  return pending;
}

/** One chunk at `position`: up to `want` bytes (fewer at the end of a shrunk file), undefined at EOF. */
async function readChunk(file: ReadFd, position: bigint, want: number): Promise<Buffer | undefined> {
  const buf = chunkPool.acquire(want);
  let filled = 0;
  try {
    while (filled < want) {
      const n = await file.read(buf, filled, want - filled, position + BigInt(filled));
      if (n === 0) break;
      filled += n;
    }
  } catch (err) {
    chunkPool.release(buf);
    throw err;
  }
  if (filled === 0) {
    chunkPool.release(buf);
    return undefined;
  }
  return chunkPool.shorten(buf, filled);
}
