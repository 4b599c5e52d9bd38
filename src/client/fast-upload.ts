// Upload over gRPC without connect-node's copies: each data message goes out as its envelope,
// field tag and length written in front of the payload. A file is read into pooled buffers with
// spare bytes in front (the prefix is written there, one write per message, and the buffer is
// reused once the session took it: no garbage per chunk); a caller's buffers go out as a 9-byte
// prefix write plus a view. At most IN_FLIGHT_BYTES are handed to the stream and not yet taken.
// What is not known before sending (the digest, a stream's size) is counted and hashed as the
// messages go out and sent in the UploadTrailer: the source is read once.
import * as fs from "node:fs";
import type * as http2 from "node:http2";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import {
  FileService,
  type UploadHeaderSchema,
  type UploadTrailerSchema,
  UploadRequestSchema,
  UploadResponseSchema,
  type UploadResponse,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { PodfilesError, cancelled } from "./errors.js";
import { FIELD_PREFIX_MAX, GrpcCall, enveloped, writeFieldPrefix, type GrpcCallOptions } from "./grpc-h2.js";
import type { Hasher } from "./hasher.js";

const PATH = `/${FileService.typeName}/${FileService.method.upload.name}`;
const DATA_TAG = (2 << 3) | 2;
/** Bytes handed to the HTTP/2 stream whose write has not completed: 8 messages of 1 MiB. */
const IN_FLIGHT_BYTES = 8 * 1024 * 1024;
/** Largest message payload (the server accepts 16 MiB messages; 4 MiB is its largest chunk too). */
const MAX_PAYLOAD = 4 * 1024 * 1024;
const HEADROOM = 16;

/** One data message on its way out: the bytes to write, and what to do once they are gone. */
export interface Frame {
  parts: Uint8Array[];
  payload: number;
  /** the payload bytes (a view of the parts) */
  data: Uint8Array;
  release?: () => void;
}

/** Buffers of one size with HEADROOM spare bytes in front, reused once written. */
class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(private readonly size: number) {}
  acquire(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(HEADROOM + this.size);
  }
  release(buf: Buffer): void {
    if (this.free.length < 16) this.free.push(buf);
  }
}

const pools = new Map<number, BufferPool>();
const poolFor = (size: number) => pools.get(size) ?? pools.set(size, new BufferPool(size)).get(size)!;

const readAt = (fd: number, buf: Uint8Array, offset: number, length: number, position: number) =>
  new Promise<number>((resolve, reject) => fs.read(fd, buf, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));

/** The bytes [start, end) of an open file as framed messages of `chunk` bytes, in pooled buffers. */
export async function* fileFrames(fd: number, start: number, end: number, chunk: number): AsyncGenerator<Frame> {
  const pool = poolFor(chunk);
  let position = start;
  while (position < end) {
    const buf = pool.acquire();
    const want = Math.min(chunk, end - position);
    let n: number;
    try {
      n = await readAt(fd, buf, HEADROOM, want, position);
    } catch (err) {
      pool.release(buf);
      throw err;
    }
    if (n === 0) {
      pool.release(buf);
      throw new PodfilesError(`the file ended at ${position} bytes, ${end} were expected (did it shrink?)`, Code.DataLoss);
    }
    position += n;
    const from = writeFieldPrefix(buf, HEADROOM, DATA_TAG, n);
    yield { parts: [buf.subarray(from, HEADROOM + n)], payload: n, data: buf.subarray(HEADROOM, HEADROOM + n), release: () => pool.release(buf) };
  }
}

/** A caller's chunks as framed messages: a small prefix and the chunk itself (no copy). */
export async function* viewFrames(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): AsyncGenerator<Frame> {
  for await (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += MAX_PAYLOAD) {
      const view = chunk.subarray(at, Math.min(chunk.length, at + MAX_PAYLOAD));
      const prefix = new Uint8Array(FIELD_PREFIX_MAX);
      const from = writeFieldPrefix(prefix, FIELD_PREFIX_MAX, DATA_TAG, view.length);
      yield { parts: [prefix.subarray(from), view], payload: view.length, data: view };
    }
  }
}

/** The UploadTrailer message as a frame. */
export function trailerFrame(value: MessageInitShape<typeof UploadTrailerSchema>): Frame {
  const message = enveloped(toBinary(UploadRequestSchema, create(UploadRequestSchema, { part: { case: "trailer", value } })));
  return { parts: [message], payload: 0, data: new Uint8Array(0) };
}

/**
 * Data frames counted (and hashed, given a hasher) as they go out, then, if asked for, an
 * UploadTrailer with the count and the digest. `digest()` once `done`.
 */
export class TrailedFrames implements AsyncIterable<Frame> {
  bytes = 0;
  done = false;
  private value?: Uint8Array;

  constructor(
    private readonly frames: AsyncIterable<Frame>,
    private readonly trailer: { hash?: Hasher; size: boolean } | undefined,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Frame> {
    const hash = this.trailer?.hash;
    for await (const frame of this.frames) {
      hash?.update(frame.data);
      this.bytes += frame.payload;
      yield frame;
    }
    if (hash) this.value = hash.digest();
    if (this.trailer) yield trailerFrame({ expectedSize: this.trailer.size ? BigInt(this.bytes) : undefined, expectedDigest: this.value });
    this.done = true;
  }

  /** the digest computed while sending (undefined without a hasher) */
  digest(): Uint8Array | undefined {
    return this.value;
  }
}

export async function fastUpload(
  manager: Http2SessionManager,
  headers: http2.OutgoingHttpHeaders,
  header: MessageInitShape<typeof UploadHeaderSchema>,
  frames: AsyncIterable<Frame>,
  o: GrpcCallOptions & { onSent?: (bytes: number) => void },
): Promise<UploadResponse> {
  const call = await GrpcCall.open(manager, PATH, headers, o);
  const { stream } = call;
  const response: Buffer[] = [];
  stream.on("data", (c: Buffer) => {
    response.push(c);
    call.byteRead();
  });

  let inFlight = 0;
  let sent = 0;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  call.finished.then(notify, notify);

  stream.write(enveloped(toBinary(UploadRequestSchema, create(UploadRequestSchema, { part: { case: "header", value: header } }))));
  try {
    for await (const frame of frames) {
      if (call.ended) break; // the server answered early (an error): its status says why
      inFlight += frame.payload;
      const last = frame.parts.length - 1;
      if (last > 0) stream.cork();
      frame.parts.forEach((part, i) => {
        if (i < last) stream.write(part);
        else
          stream.write(part, () => {
            inFlight -= frame.payload;
            sent += frame.payload;
            frame.release?.();
            o.onSent?.(sent);
            notify();
          });
      });
      if (last > 0) stream.uncork();
      while (inFlight > IN_FLIGHT_BYTES && !call.ended) await new Promise<void>((resolve) => (wake = resolve));
    }
    if (!call.ended) stream.end();
    await call.finished;
  } catch (err) {
    // a local failure (the source) or the call's own status
    if (!call.ended) call.cancel(o.signal?.aborted ? cancelled(o.signal.reason) : PodfilesError.from(err));
    throw PodfilesError.from(err);
  }
  const body = Buffer.concat(response);
  if (body.length < 5) throw new PodfilesError("the upload ended without a response", Code.Internal);
  const length = body.readUInt32BE(1);
  return fromBinary(UploadResponseSchema, body.subarray(5, 5 + length));
}
