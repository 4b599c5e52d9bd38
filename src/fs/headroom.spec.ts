import { describe, expect, it } from "vitest";
import { ChunkPool, HEADROOM } from "./headroom.js";

describe("ChunkPool", () => {
  it("hands out chunks with HEADROOM writable bytes in front", () => {
    const pool = new ChunkPool();
    const chunk = pool.acquire(1000);
    expect(chunk.length).toBe(1000);
    expect(chunk.byteOffset).toBeGreaterThanOrEqual(HEADROOM);
    expect(pool.has(chunk)).toBe(true);
    // the headroom is part of the same memory, just in front
    const framed = new Uint8Array(chunk.buffer, chunk.byteOffset - HEADROOM, HEADROOM + chunk.length);
    framed[HEADROOM] = 42;
    expect(chunk[0]).toBe(42);
  });

  it("reuses a released chunk's memory for the next chunk of the same size, and only then", () => {
    const pool = new ChunkPool();
    const a = pool.acquire(4096);
    const other = pool.acquire(4096);
    expect(other.buffer).not.toBe(a.buffer);
    pool.release(a);
    expect(pool.has(a)).toBe(false);
    expect(pool.freeBuffers).toBe(1);
    expect(pool.acquire(2048).buffer).not.toBe(a.buffer); // another size: fresh memory
    const b = pool.acquire(4096);
    expect(b.buffer).toBe(a.buffer);
    expect(pool.freeBuffers).toBe(0);
  });

  it("ignores a second release and chunks it did not hand out", () => {
    const pool = new ChunkPool();
    const a = pool.acquire(100);
    pool.release(a);
    pool.release(a);
    expect(pool.freeBuffers).toBe(1);
    pool.release(Buffer.alloc(100));
    pool.release(new Uint8Array(200).subarray(HEADROOM));
    expect(pool.freeBuffers).toBe(1);
    // a released buffer handed out once is handed out once: two acquires get two buffers
    const x = pool.acquire(100);
    const y = pool.acquire(100);
    expect(x.buffer).not.toBe(y.buffer);
  });

  it("a shortened chunk (short read) travels instead of the full one and returns the whole buffer", () => {
    const pool = new ChunkPool();
    const full = pool.acquire(1024);
    const short = pool.shorten(full, 10);
    expect(short.length).toBe(10);
    expect(short.byteOffset).toBe(full.byteOffset);
    expect(pool.has(short)).toBe(true);
    expect(pool.has(full)).toBe(false);
    pool.release(short);
    expect(pool.acquire(1024).buffer).toBe(full.buffer);
    const same = pool.acquire(64);
    expect(pool.shorten(same, 64)).toBe(same);
  });

  it("keeps at most maxFreePerSize free buffers and none larger than maxBufferBytes", () => {
    const pool = new ChunkPool({ maxFreePerSize: 2, maxBufferBytes: HEADROOM + 1000 });
    const chunks = [pool.acquire(500), pool.acquire(500), pool.acquire(500)];
    for (const c of chunks) pool.release(c);
    expect(pool.freeBuffers).toBe(2);
    pool.release(pool.acquire(1001));
    expect(pool.freeBuffers).toBe(2);
  });
});

describe("ChunkPool.transfer", () => {
  it("moves the record to a view into the same memory, so releasing the view returns the buffer", () => {
    const pool = new ChunkPool();
    const message = pool.acquire(1000);
    const data = message.subarray(4);
    pool.transfer(message, data);
    expect(pool.has(message)).toBe(false);
    expect(pool.has(data)).toBe(true);
    pool.release(data);
    expect(pool.acquire(1000).buffer).toBe(message.buffer);
  });

  it("ignores a view into other memory", () => {
    const pool = new ChunkPool();
    const message = pool.acquire(100);
    pool.transfer(message, new Uint8Array(10));
    expect(pool.has(message)).toBe(true);
  });
});
