// Download over gRPC without connect-node's per-message work: the response body is split into
// envelopes as its HTTP/2 frames arrive, and a data message (DownloadResponse.data, its only
// field) is passed on as views of those frames — no assembly into a message buffer, no protobuf
// decode; pieces that queue up while the consumer is busy go on together as one batch (Node
// delivers DATA in pieces of ≤ 16 KiB: an async step per piece cost more than the transfer). The header and
// the trailer (small) are assembled and decoded with protobuf-es. At most QUEUE_BYTES wait for the
// consumer: beyond that the stream is paused and HTTP/2 flow control holds the server back.
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import type * as http2 from "node:http2";
import { DownloadRequestSchema, DownloadResponseSchema, FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { DownloadPart } from "./download-stream.js";
import { PodfilesError } from "./errors.js";
import { GrpcCall, enveloped, type GrpcCallOptions } from "./grpc-h2.js";

const PATH = `/${FileService.typeName}/${FileService.method.download.name}`;
const DATA_TAG = (2 << 3) | 2;
const QUEUE_BYTES = 8 * 1024 * 1024;
const MAX_SMALL_MESSAGE = 16 * 1024 * 1024;
const BATCH_BYTES = 1024 * 1024;

export async function* fastDownload(
  manager: Http2SessionManager,
  headers: http2.OutgoingHttpHeaders,
  req: MessageInitShape<typeof DownloadRequestSchema>,
  o: GrpcCallOptions,
): AsyncGenerator<DownloadPart> {
  const call = await GrpcCall.open(manager, PATH, headers, o);
  const { stream } = call;
  stream.end(enveloped(toBinary(DownloadRequestSchema, create(DownloadRequestSchema, req))));

  const queue: DownloadPart[] = [];
  let queued = 0;
  let bodyEnded = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const parser = new ResponseParser((part) => {
    queue.push(part);
    if (part.case === "data") queued += part.value.length;
  });
  stream.on("data", (chunk: Buffer) => {
    try {
      parser.push(chunk);
    } catch (err) {
      call.cancel(PodfilesError.from(err));
    }
    call.byteRead();
    if (queued > QUEUE_BYTES) stream.pause();
    notify();
  });
  stream.on("end", () => {
    bodyEnded = true;
    notify();
  });
  call.finished.then(notify, notify);

  try {
    for (;;) {
      let part = queue.shift();
      if (part) {
        if (part.case === "data") {
          if (queue[0]?.case === "data") part = { case: "batch", value: takeBatch(part.value, queue) };
          queued -= part.case === "batch" ? part.value.reduce((n, v) => n + v.length, 0) : part.value.length;
          if (queued < QUEUE_BYTES / 2 && stream.isPaused()) stream.resume();
        }
        yield part;
        continue;
      }
      if (call.failed) throw call.failed;
      if (bodyEnded) {
        await call.finished; // the status in the trailers
        if (!parser.idle) throw new PodfilesError("the response ended inside a message", Code.DataLoss);
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    if (!call.ended) call.cancel();
  }
}

/** `first` and the data parts that follow it in the queue (up to BATCH_BYTES). */
function takeBatch(first: Uint8Array, queue: DownloadPart[]): Uint8Array[] {
  const pieces = [first];
  let bytes = first.length;
  while (bytes < BATCH_BYTES) {
    const next = queue[0];
    if (next?.case !== "data") break;
    queue.shift();
    pieces.push(next.value);
    bytes += next.value.length;
  }
  return pieces;
}

/** Splits the response body into DownloadParts, data as views of the incoming chunks. */
class ResponseParser {
  private readonly head = new Uint8Array(16);
  private headFill = 0;
  /** bytes of the current message still to come */
  private remaining = 0;
  /** streaming a data message: its payload bytes still to come */
  private dataLeft = 0;
  /** assembling a small message */
  private message?: Uint8Array;
  private messageFill = 0;

  constructor(private readonly emit: (part: DownloadPart) => void) {}

  get idle(): boolean {
    return this.headFill === 0 && this.remaining === 0;
  }

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.dataLeft > 0) {
        const n = Math.min(this.dataLeft, chunk.length - at);
        this.emit({ case: "data", value: chunk.subarray(at, at + n) });
        this.dataLeft -= n;
        this.remaining -= n;
        at += n;
        continue;
      }
      if (this.message) {
        const n = Math.min(this.message.length - this.messageFill, chunk.length - at);
        this.message.set(chunk.subarray(at, at + n), this.messageFill);
        this.messageFill += n;
        this.remaining -= n;
        at += n;
        if (this.messageFill === this.message.length) this.finishMessage();
        continue;
      }
      // the envelope (5 bytes) and the start of the message: enough to see a data field's tag and length
      this.head[this.headFill++] = chunk[at++]!;
      if (this.headFill === 5) {
        if (this.head[0]! & 1) throw new PodfilesError("compressed response message without an encoding", Code.Internal);
        this.remaining = ((this.head[1]! << 24) >>> 0) + (this.head[2]! << 16) + (this.head[3]! << 8) + this.head[4]!;
        if (this.remaining === 0) {
          this.headFill = 0;
          this.emit(fromBinary(DownloadResponseSchema, new Uint8Array(0)).part);
        }
        continue;
      }
      if (this.headFill > 5) this.classify();
    }
  }

  /** With the message's first bytes in `head`: a data message streams, anything else is assembled. */
  private classify(): void {
    const got = this.headFill - 5;
    const body = this.head.subarray(5, this.headFill);
    if (body[0] === DATA_TAG && got < this.remaining) {
      const varint = readVarint(body, 1);
      if (varint === "incomplete") return; // the length is still arriving
      if (varint && varint.end + varint.value === this.remaining) {
        // the data field is the whole message: stream its payload
        this.headFill = 0;
        this.remaining -= varint.end;
        this.dataLeft = varint.value;
        if (varint.value === 0) this.emit({ case: "data", value: new Uint8Array(0) });
        return;
      }
    }
    // assemble: a header, a trailer, or a data message with more than the data field
    if (this.remaining > MAX_SMALL_MESSAGE) throw new PodfilesError(`response message of ${this.remaining} bytes`, Code.ResourceExhausted);
    this.message = new Uint8Array(this.remaining);
    this.message.set(body, 0);
    this.messageFill = got;
    this.remaining -= got;
    this.headFill = 0;
    if (this.messageFill === this.message.length) this.finishMessage();
  }

  private finishMessage(): void {
    const message = this.message!;
    this.message = undefined;
    this.messageFill = 0;
    let decoded;
    try {
      decoded = fromBinary(DownloadResponseSchema, message);
    } catch (err) {
      throw new PodfilesError(`invalid DownloadResponse: ${String(err)}`, Code.Internal);
    }
    this.emit(decoded.part);
  }
}

/** A varint at `at` (at most 5 bytes): its value and the index after it, "incomplete", or undefined when too long. */
function readVarint(buf: Uint8Array, at: number): { value: number; end: number } | "incomplete" | undefined {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (at + i >= buf.length) return "incomplete";
    const b = buf[at + i]!;
    value += (b & 0x7f) * 2 ** (7 * i);
    if (!(b & 0x80)) return { value, end: at + i + 1 };
  }
  return undefined;
}
