// Tail on a RootFs: a regular file from an offset or its last lines (found by reading backwards in
// CHUNK-sized steps), then, with follow, what is appended, until the caller's signal aborts. The
// path is re-resolved (confined) on each wake-up: when it names another regular file (a rotation:
// rename + new file), the old one is read to its end first, then the new one from its start
// (notice "rotated"); when the file shrank below what was sent (copytruncate), it is read again
// from its start (notice "truncated"). One chunk buffer at a time: memory does not grow with the
// file or with a slow reader (each chunk is handed over before the next is read).
import * as fs from "node:fs";
import { posix } from "node:path";
import type { TailChunk, TailOptions } from "../container-fs.js";
import { outOfRange } from "../../errors.js";
import { ChangeWaker } from "./change-waker.js";
import type { RootContext } from "./context.js";
import { closeQuietly } from "./fs-sys.js";
import { ReadFd } from "./read-chunks.js";

export const CHUNK = 64 * 1024;
const NEWLINE = 0x0a;
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

interface Tailed {
  file: ReadFd;
  dev: bigint;
  ino: bigint;
  /** Next byte to send. */
  pos: bigint;
}

export async function* tailFile(ctx: RootContext, path: string, options: TailOptions): AsyncGenerator<TailChunk> {
  const signal = options.signal;
  const scratch = Buffer.allocUnsafe(CHUNK);
  let cur = await openTailed(ctx, path);
  let waker: ChangeWaker | undefined;
  try {
    const size = (await ctx.fstat(cur.file.fd, path)).size;
    if (options.offset !== undefined) {
      if (options.offset > size) throw outOfRange(`offset ${options.offset} is past the end of ${path} (${size} bytes)`);
      cur.pos = options.offset;
    } else cur.pos = await lastLinesStart(ctx, cur.file, path, size, options.lines ?? 10, scratch, signal);
    yield* drain(ctx, cur, path, scratch, signal);
    if (!options.follow) return;

    waker = new ChangeWaker(signal);
    await waker.watch(ctx, cur.file.fd, path, posix.dirname(path));
    while (!signal?.aborted) {
      await waker.wait();
      if (signal?.aborted) break;
      const st = await ctx.fstat(cur.file.fd, path);
      if (st.size < cur.pos) {
        cur.pos = 0n;
        yield { data: new Uint8Array(0), offset: 0n, notice: "truncated" };
      }
      yield* drain(ctx, cur, path, scratch, signal);
      const now = await ctx.pin(path, { followFinalSymlink: true }).then(
        (pin) => (closeQuietly(pin.pathFd), pin),
        () => undefined, // gone (renamed away, not recreated yet): keep reading the old file
      );
      if (now?.type !== "regular" || (now.st.dev === cur.dev && now.st.ino === cur.ino)) continue;
      const next = await openTailed(ctx, path).catch(() => undefined);
      if (!next) continue;
      yield* drain(ctx, cur, path, scratch, signal); // what the writer added to the old file before it moved on
      cur.file.close();
      cur = next;
      await waker.watch(ctx, cur.file.fd, path, posix.dirname(path));
      yield { data: new Uint8Array(0), offset: 0n, notice: "rotated" };
      yield* drain(ctx, cur, path, scratch, signal);
    }
  } finally {
    waker?.close();
    cur.file.close();
  }
}

async function openTailed(ctx: RootContext, path: string): Promise<Tailed> {
  const { fd, st } = await ctx.openRegular(path, READ_FLAGS, { followFinalSymlink: true, verb: "tail" });
  return { file: new ReadFd(fd), dev: st.dev, ino: st.ino, pos: 0n };
}

/** Reads from cur.pos to the end of the file as it is now, a chunk at a time. */
async function* drain(ctx: RootContext, cur: Tailed, path: string, scratch: Buffer, signal?: AbortSignal): AsyncGenerator<TailChunk> {
  for (;;) {
    signal?.throwIfAborted();
    const n = await ctx.guard.run(path, () => cur.file.read(scratch, 0, CHUNK, cur.pos));
    if (n === 0) return;
    const offset = cur.pos;
    cur.pos += BigInt(n);
    yield { data: Uint8Array.prototype.slice.call(scratch, 0, n), offset };
  }
}

/**
 * Where the last `lines` lines of the first `size` bytes start: the byte after the lines-th
 * newline from the end (a newline that is the file's last byte ends the last line, it is not
 * counted); 0 when there are fewer lines. Reads backwards, one scratch buffer at a time.
 */
export async function lastLinesStart(
  ctx: RootContext,
  file: ReadFd,
  path: string,
  size: bigint,
  lines: number,
  scratch: Buffer,
  signal?: AbortSignal,
): Promise<bigint> {
  if (lines === 0) return size;
  let need = lines;
  let end = size;
  while (end > 0n) {
    signal?.throwIfAborted();
    const start = end > BigInt(scratch.length) ? end - BigInt(scratch.length) : 0n;
    const want = Number(end - start);
    let got = 0;
    while (got < want) {
      const n = await ctx.guard.run(path, () => file.read(scratch, got, want - got, start + BigInt(got)));
      if (n === 0) break;
      got += n;
    }
    for (let i = got - 1; i >= 0; i--) {
      if (scratch[i] !== NEWLINE) continue;
      const at = start + BigInt(i);
      if (at === size - 1n) continue;
      if (--need === 0) return at + 1n;
    }
    end = start;
  }
  return 0n;
}
