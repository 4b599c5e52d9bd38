// O_DIRECT writes for the bulk of large new files.
//
// Measured on this VM (1 GiB in 1 MiB writes, then fsync; `node` with fs.write, 3 runs each): through
// the page cache 291–1681 MiB/s at 0.40–4.98 CPU-s/GiB (filling fresh page-cache pages is what
// costs: the same swing shows in `dd conv=fsync`, 0.35–3.18 s of system time), with O_DIRECT
// 1610–1779 MiB/s at 0.16–0.21 CPU-s/GiB every time. An upload's data is not read back by the
// agent, so it has no use for the cache either.
//
// O_DIRECT needs the buffer's address, the file offset and the length aligned to the device's
// block. Chunks arrive at any size, so the bytes are copied (one memcpy, ~0.1 s/GiB) into aligned
// blocks, and only whole blocks at aligned offsets go direct; the file's start (below
// DIRECT_AFTER_BYTES, so small files never take this path) and its tail go through the page cache.
//
// Guarantees: the bytes land at the positions asked, in order, whichever way each block goes;
// a direct write the filesystem refuses (EINVAL: no O_DIRECT support, a stricter alignment) is
// redone through the page cache and the file stays on the page cache from then on; the blocks are
// bounded process-wide (BLOCK_BYTES × MAX_BLOCKS), and a writer that finds none free keeps writing
// through the page cache. Out of scope: durability, which the writer's fsync still provides.
import * as fs from "node:fs";

/** One aligned block: a direct write's size and alignment unit (a multiple of any block size). */
export const BLOCK_BYTES = 1024 * 1024;
/** A file goes direct only once this much of it has been written through the page cache. */
export const DIRECT_AFTER_BYTES = BLOCK_BYTES;
/** Aligned blocks in the whole process: 3 per large upload in flight (one filling, two queued). */
const MAX_BLOCKS = 48;
/** Blocks per WebAssembly.Memory (its buffer starts on a page boundary: V8 maps it with mmap). */
const BLOCKS_PER_MEMORY = 16;
/** Offsets and lengths of direct writes are multiples of this. */
export const DIRECT_ALIGN = 4096;

/** Off when PODFILES_DIRECT_WRITES=0 (an operator on a filesystem where O_DIRECT is slow). */
export const directWritesEnabled = process.env.PODFILES_DIRECT_WRITES !== "0";

/** Bytes written with O_DIRECT and blocks redone through the page cache, since start (figures, tests). */
export const directWriteStats = { directBytes: 0, refusedBlocks: 0 };

/** WebAssembly.Memory (the global exists in Node; this project's TypeScript libs do not declare it). */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;

const freeBlocks: Uint8Array[] = [];
let blocksMade = 0;

/** A free aligned block, or undefined when all MAX_BLOCKS are in use. */
export function acquireBlock(): Uint8Array | undefined {
  const free = freeBlocks.pop();
  if (free) return free;
  if (blocksMade >= MAX_BLOCKS) return undefined;
  const memory = new WasmMemory({ initial: (BLOCKS_PER_MEMORY * BLOCK_BYTES) / 65536 });
  for (let i = 1; i < BLOCKS_PER_MEMORY; i++) freeBlocks.push(new Uint8Array(memory.buffer, i * BLOCK_BYTES, BLOCK_BYTES));
  blocksMade += BLOCKS_PER_MEMORY;
  return new Uint8Array(memory.buffer, 0, BLOCK_BYTES);
}

/** Returns a block from acquireBlock once nothing reads it any more. */
export function releaseBlock(block: Uint8Array): void {
  freeBlocks.push(block);
}

/**
 * A second descriptor of the file `fd` is open on, for direct writes (reopened through
 * /proc/self/fd: the same inode, no path lookup), or undefined where the filesystem refuses O_DIRECT.
 */
export function openDirect(fd: number): Promise<number | undefined> {
  return new Promise((resolve) =>
    fs.open(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_DIRECT, (err, direct) => resolve(err ? undefined : direct)),
  );
}

/**
 * Sequential writes from `position` on into `fd` (a file opened for writing by the caller, who
 * fsyncs and closes it): once the file is past DIRECT_AFTER_BYTES, whole aligned blocks go through a
 * second, O_DIRECT descriptor, one block written while the next fills; everything else through
 * `fd`. end() writes what is staged and must be awaited before the caller's fsync. A failed write
 * is thrown by the next write() or by end().
 */
export class SequentialDirectWriter {
  private directFd?: number;
  private state: "later" | "staging" | "off";
  private block?: Uint8Array;
  private blockFill = 0;
  private blockAt = 0;
  private pending: Promise<void> = Promise.resolve();

  constructor(
    private readonly fd: number,
    private position: number,
  ) {
    this.state = directWritesEnabled ? "later" : "off";
  }

  /** Writes the chunks (the caller may reuse them once this resolves). */
  async write(chunks: readonly Uint8Array[]): Promise<void> {
    for (const chunk of chunks) {
      const at = this.position;
      this.position += chunk.length;
      if (this.state === "later" && this.position > DIRECT_AFTER_BYTES) await this.start(at);
      if (this.state !== "staging") {
        await this.pending;
        await writeAll(this.fd, chunk, at);
        continue;
      }
      const head = Math.min(chunk.length, Math.max(0, this.blockAt + this.blockFill - at));
      if (head > 0) {
        await this.pending;
        await writeAll(this.fd, chunk.subarray(0, head), at);
      }
      for (let from = head; from < chunk.length; ) {
        if (!this.block) {
          this.block = acquireBlock();
          this.blockFill = 0;
          if (!this.block) {
            // no block free: the rest of the file through the page cache
            this.state = "off";
            await this.pending;
            await writeAll(this.fd, chunk.subarray(from), at + from);
            break;
          }
        }
        const n = Math.min(BLOCK_BYTES - this.blockFill, chunk.length - from);
        this.block.set(chunk.subarray(from, from + n), this.blockFill);
        this.blockFill += n;
        from += n;
        if (this.blockFill === BLOCK_BYTES) await this.flushBlock();
      }
    }
  }

  /** Writes what is staged and gives the blocks back; the writer takes no more data after it. */
  async end(): Promise<void> {
    try {
      if (this.block && this.blockFill > 0) await this.flushBlock();
      await this.pending;
    } finally {
      if (this.block) releaseBlock(this.block);
      this.block = undefined;
      this.state = "off";
      if (this.directFd !== undefined) fs.close(this.directFd, () => undefined);
      this.directFd = undefined;
    }
  }

  private async start(at: number): Promise<void> {
    this.directFd ??= await openDirect(this.fd);
    if (this.directFd === undefined) {
      this.state = "off";
      return;
    }
    this.blockAt = Math.ceil(Math.max(at, DIRECT_AFTER_BYTES) / DIRECT_ALIGN) * DIRECT_ALIGN;
    this.blockFill = 0;
    this.state = "staging";
  }

  /** Waits for the block before, then starts this one's write (the next block fills meanwhile). */
  private async flushBlock(): Promise<void> {
    const block = this.block!;
    const length = this.blockFill;
    const at = this.blockAt;
    this.block = undefined;
    this.blockAt += length;
    this.blockFill = 0;
    await this.pending;
    const directLength = at % DIRECT_ALIGN === 0 ? length - (length % DIRECT_ALIGN) : 0;
    const direct = directLength > 0 ? this.directFd : undefined;
    this.pending = (async () => {
      try {
        if (direct !== undefined) {
          try {
            await writeAll(direct, block.subarray(0, directLength), at);
            directWriteStats.directBytes += directLength;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
            directWriteStats.refusedBlocks++;
            this.directFd = undefined;
            fs.close(direct, () => undefined);
            return writeAll(this.fd, block.subarray(0, length), at);
          }
        }
        const from = direct !== undefined ? directLength : 0;
        if (from < length) await writeAll(this.fd, block.subarray(from, length), at + from);
      } finally {
        releaseBlock(block);
      }
    })();
    // a failure surfaces at the next await of pending (next block, or end)
    this.pending.catch(() => undefined);
  }
}

/** write(2) until every byte of `chunk` is in, at `position`. */
function writeAll(fd: number, chunk: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number) =>
      fs.write(fd, chunk, done, chunk.length - done, position + done, (err, n) => {
        if (err) return reject(err);
        if (done + n < chunk.length) return step(done + n);
        resolve();
      });
    step(0);
  });
}
