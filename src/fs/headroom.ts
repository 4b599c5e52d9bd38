// Chunks read with spare bytes in front of them, so a transport can write its
// framing (gRPC's 5-byte envelope plus the protobuf field tag and length) into
// those bytes and send one buffer, instead of copying the payload into a new one.
// Only chunks registered here have such bytes; anything else is framed by copying.

/** Spare bytes reserved in front of each chunk (envelope 5 + tag 1 + varint ≤ 5). */
export const HEADROOM = 16;

const withHeadroom = new WeakSet<Uint8Array>();

/** A fresh chunk of `size` bytes with HEADROOM spare bytes in front, registered as such. */
export function allocWithHeadroom(size: number): { backing: Buffer; chunk: Buffer } {
  const backing = Buffer.allocUnsafeSlow(HEADROOM + size);
  return { backing, chunk: backing.subarray(HEADROOM) };
}

/** Marks `chunk` (a view that starts at least HEADROOM bytes into a buffer of ours) as framable. */
export function markHeadroom(chunk: Uint8Array): Uint8Array {
  withHeadroom.add(chunk);
  return chunk;
}

export const hasHeadroom = (chunk: Uint8Array) => withHeadroom.has(chunk) && chunk.byteOffset >= HEADROOM;
