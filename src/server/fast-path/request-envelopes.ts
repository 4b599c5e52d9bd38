// Splits a request body into its enveloped messages (flags byte, 4-byte length, message) as the
// body's chunks arrive, synchronously: no async step per HTTP/2 DATA frame (grpc-go sends 16 KiB
// frames: 65,536 per GiB), and no copy for a message that arrives inside one chunk. A message
// split across chunks is assembled once, into a buffer of the chunk pool (fs/headroom.ts): only
// its last user may release it (the file writer, once written); anything else lets GC have it.
import { Code, ConnectError } from "@connectrpc/connect";
import { chunkPool } from "../../fs/headroom.js";

export class EnvelopeSplitter {
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  /** the message being assembled across chunks, and how much of it has arrived */
  private message?: Uint8Array;
  private messageFill = 0;

  /** @param maxBytes largest message accepted (RESOURCE_EXHAUSTED beyond) */
  constructor(private readonly maxBytes: number) {}

  /** The messages this chunk completes (views into the chunk where they fit in it). */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (!this.message) {
        // a whole envelope header and message inside the chunk: a view, no copy
        if (this.headerFill === 0 && chunk.length - at >= 5) {
          const length = this.checkHeader(chunk[at], readUint32(chunk, at + 1));
          if (chunk.length - at - 5 >= length) {
            out.push(chunk.subarray(at + 5, at + 5 + length));
            at += 5 + length;
            continue;
          }
          this.begin(length);
          at += 5;
          continue;
        }
        const take = Math.min(5 - this.headerFill, chunk.length - at);
        this.header.set(chunk.subarray(at, at + take), this.headerFill);
        this.headerFill += take;
        at += take;
        if (this.headerFill < 5) break;
        this.headerFill = 0;
        const length = this.checkHeader(this.header[0], this.header.readUInt32BE(1));
        if (length === 0) {
          out.push(new Uint8Array(0));
          continue;
        }
        this.begin(length);
        continue;
      }
      const take = Math.min(this.message.length - this.messageFill, chunk.length - at);
      this.message.set(chunk.subarray(at, at + take), this.messageFill);
      this.messageFill += take;
      at += take;
      if (this.messageFill === this.message.length) {
        out.push(this.message);
        this.message = undefined;
      }
    }
    return out;
  }

  /** At the end of the body: an envelope cut short is a protocol error. */
  finish(): void {
    if (this.message || this.headerFill > 0) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  }

  private begin(length: number): void {
    this.message = chunkPool.acquire(length);
    this.messageFill = 0;
  }

  private checkHeader(flags: number, length: number): number {
    if (flags & 1) throw new ConnectError("protocol error: received compressed message without a content encoding", Code.Internal);
    if (length > this.maxBytes)
      throw new ConnectError(`message size ${length} is larger than configured readMaxBytes ${this.maxBytes}`, Code.ResourceExhausted);
    return length;
  }
}

const readUint32 = (b: Uint8Array, at: number) => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
