// Chunks read with spare bytes in front of them, so a transport can write its
// framing (gRPC's 5-byte envelope plus the protobuf field tag and length) into
// those bytes and send one buffer, instead of copying the payload into a new one.
// Only chunks registered here have such bytes; anything else is framed by copying.
//
// The buffers are recycled: a transport that knows the socket is done with a
// chunk (its write callback ran) hands it back with releaseChunk, and the next
// read reuses the memory. A fresh 1 MiB ArrayBuffer per chunk made V8 run a
// mark-compact every ~100 MiB (external memory pressure): 0.2–0.5 s of server
// CPU per GiB and the longest event-loop pauses under load. A chunk nobody
// releases is simply garbage collected, so only paths that own the whole life
// of a chunk release it.

/** Spare bytes reserved in front of each chunk (envelope 5 + tag 1 + varint ≤ 5). */
export const HEADROOM = 16;

export interface ChunkPoolOptions {
  /** Free buffers kept per buffer size (default 16: 16 MiB at the default 1 MiB chunk). */
  maxFreePerSize?: number;
  /** Largest buffer (headroom included) worth keeping (default 4 MiB + HEADROOM, the largest chunk). */
  maxBufferBytes?: number;
}

/** Backing buffers by size; a released chunk returns its whole backing buffer. */
export class ChunkPool {
  private readonly free = new Map<number, Buffer[]>();
  /** chunk view → its backing buffer, for every chunk handed out and not yet released */
  private readonly owners = new WeakMap<Uint8Array, Buffer>();
  private readonly maxFree: number;
  private readonly maxBytes: number;

  constructor(options: ChunkPoolOptions = {}) {
    this.maxFree = options.maxFreePerSize ?? 16;
    this.maxBytes = options.maxBufferBytes ?? 4 * 1024 * 1024 + HEADROOM;
  }

  /** A chunk of `size` bytes with HEADROOM spare bytes in front (contents undefined). */
  acquire(size: number): Buffer {
    const backing = this.free.get(HEADROOM + size)?.pop() ?? Buffer.allocUnsafeSlow(HEADROOM + size);
    const chunk = backing.subarray(HEADROOM);
    this.owners.set(chunk, backing);
    return chunk;
  }

  /** Marks a shorter view of an acquired chunk (a short read) as the chunk that travels. */
  shorten(chunk: Buffer, length: number): Buffer {
    if (length === chunk.length) return chunk;
    const backing = this.owners.get(chunk);
    const view = chunk.subarray(0, length);
    if (backing) {
      this.owners.delete(chunk);
      this.owners.set(view, backing);
    }
    return view;
  }

  /**
   * Hands the pool record of `from` to `to`, a view into the same memory (a message assembled in a
   * pooled buffer → the data field inside it), so that releasing `to` returns the buffer.
   */
  transfer(from: Uint8Array, to: Uint8Array): void {
    const backing = this.owners.get(from);
    if (!backing || to.buffer !== backing.buffer) return;
    this.owners.delete(from);
    this.owners.set(to, backing);
  }

  /** True for a chunk of this pool not yet released: it has HEADROOM writable bytes in front. */
  has(chunk: Uint8Array): boolean {
    return this.owners.has(chunk);
  }

  /**
   * Gives a chunk's memory back for reuse. Only the sole owner of the chunk may call this, once
   * nothing (socket, hash, caller) reads it any more; a second release of the same chunk is ignored.
   */
  release(chunk: Uint8Array): void {
    const backing = this.owners.get(chunk);
    if (!backing) return;
    this.owners.delete(chunk);
    if (backing.length > this.maxBytes) return;
    let list = this.free.get(backing.length);
    if (!list) this.free.set(backing.length, (list = []));
    if (list.length < this.maxFree) list.push(backing);
  }

  /** Free buffers held now (for tests and diagnostics). */
  get freeBuffers(): number {
    let n = 0;
    for (const list of this.free.values()) n += list.length;
    return n;
  }
}

/** The process-wide pool the file readers allocate from and the zero-copy transports release to. */
export const chunkPool = new ChunkPool();

export const hasHeadroom = (chunk: Uint8Array) => chunkPool.has(chunk);
export const releaseChunk = (chunk: Uint8Array) => chunkPool.release(chunk);
