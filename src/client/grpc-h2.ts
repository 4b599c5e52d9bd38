// gRPC calls over node:http2 directly, for the two bulk RPCs. connect-node's client serialises
// each message with protobuf-es, copies it into an envelope and, on the way in, copies every
// message out of the HTTP/2 frames before decoding it (~3.4 s of client CPU per GiB uploaded,
// 0.36× a raw http2 upload). Here a message is written as its envelope bytes in front of the
// payload (in spare bytes of a pooled buffer, or as a separate 9-byte write) and read as views of
// the frames that carry it. The streams come from the same session manager as the connect-node
// transport of the other calls: one connection, the same windows and keep-alive.
import type * as http2 from "node:http2";
import { Code } from "@connectrpc/connect";
import { codeFromHttpStatus } from "@connectrpc/connect/protocol-grpc";
import type { Http2SessionManager } from "@connectrpc/connect-node";
import { PodfilesError, cancelled } from "./errors.js";

export interface GrpcCallOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface GrpcStatus {
  code: Code;
  message: string;
}

/** One gRPC call's HTTP/2 stream, its response status and its trailers. */
export class GrpcCall {
  /** settles with the call's final status (OK or the error) */
  readonly finished: Promise<void>;
  private settle!: (err?: PodfilesError) => void;
  private failure?: PodfilesError;
  private done = false;
  private readonly unlisten: () => void;

  private constructor(
    readonly stream: http2.ClientHttp2Stream,
    private readonly manager: Http2SessionManager,
    signal: AbortSignal | undefined,
  ) {
    this.finished = new Promise<void>((resolve, reject) => {
      this.settle = (err) => {
        if (this.done) return;
        this.done = true;
        this.failure = err;
        this.unlisten();
        if (err) reject(err);
        else resolve();
      };
    });
    this.finished.catch(() => undefined);
    let status: GrpcStatus | undefined;
    stream.on("response", (headers) => {
      const http = Number(headers[":status"]);
      if (http !== 200) status = { code: codeFromHttpStatus(http), message: `HTTP status ${http}` };
      else if (headers["grpc-status"] !== undefined)
        status = statusOf(headers); // trailers-only response
      else if (!String(headers["content-type"] ?? "").startsWith("application/grpc"))
        status = { code: Code.Internal, message: `unexpected content-type ${headers["content-type"]}` };
    });
    stream.on("trailers", (trailers) => (status ??= statusOf(trailers)));
    stream.on("error", (err: NodeJS.ErrnoException) => this.settle(PodfilesError.from(Object.assign(err, { code: err.code ?? "ECONNRESET" }))));
    stream.on("close", () => {
      if (status && (status.code as number) !== 0) this.settle(new PodfilesError(status.message, status.code));
      else if (status) this.settle();
      else
        this.settle(
          new PodfilesError(`the call ended without a status (HTTP/2 code ${stream.rstCode})`, stream.rstCode === 8 ? Code.Canceled : Code.Unavailable),
        );
    });
    const onAbort = () => this.cancel(cancelled(signal?.reason));
    signal?.addEventListener("abort", onAbort, { once: true });
    this.unlisten = () => signal?.removeEventListener("abort", onAbort);
  }

  static async open(manager: Http2SessionManager, path: string, headers: http2.OutgoingHttpHeaders, o: GrpcCallOptions): Promise<GrpcCall> {
    if (o.signal?.aborted) throw cancelled(o.signal.reason);
    const h: http2.OutgoingHttpHeaders = { "content-type": "application/grpc+proto", te: "trailers", "user-agent": "podfiles-sdk", ...headers };
    if (o.timeoutMs !== undefined) h["grpc-timeout"] = `${Math.max(1, Math.ceil(o.timeoutMs))}m`;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = await manager.request("POST", path, h, {});
    } catch (err) {
      throw PodfilesError.from(Object.assign(err as object, { code: (err as NodeJS.ErrnoException).code ?? "ECONNREFUSED" }));
    }
    return new GrpcCall(stream, manager, o.signal);
  }

  /** The failure, once the call failed (writers stop early on it). */
  get failed(): PodfilesError | undefined {
    return this.failure;
  }

  get ended(): boolean {
    return this.done;
  }

  /** Keeps the session's keep-alive informed (connect-node pings idle connections). */
  byteRead(): void {
    this.manager.notifyResponseByteRead(this.stream);
  }

  /** Ends the call from this side (RST_STREAM CANCEL). */
  cancel(err: PodfilesError = cancelled()): void {
    this.settle(err);
    if (!this.stream.closed && !this.stream.destroyed) this.stream.close(8 /* NGHTTP2_CANCEL */);
  }
}

function statusOf(h: http2.IncomingHttpHeaders): GrpcStatus {
  const code = Number(h["grpc-status"] ?? Code.Unknown) as Code; // 0 is OK (connect-es has no Code for it)
  let message = String(h["grpc-message"] ?? "");
  try {
    message = decodeURIComponent(message);
  } catch {
    // not percent-encoded: keep it as it came
  }
  return { code, message };
}

/** The envelope (flags 0, big-endian length) of a message of `length` bytes, written at `at`. */
export function writeEnvelope(buf: Uint8Array, at: number, length: number): void {
  buf[at] = 0;
  buf[at + 1] = length >>> 24;
  buf[at + 2] = (length >>> 16) & 0xff;
  buf[at + 3] = (length >>> 8) & 0xff;
  buf[at + 4] = length & 0xff;
}

export function varintLength(n: number): number {
  let len = 1;
  while (n > 0x7f) {
    n >>>= 7;
    len++;
  }
  return len;
}

export function writeVarint(buf: Uint8Array, at: number, n: number): number {
  while (n > 0x7f) {
    buf[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[at++] = n;
  return at;
}

/**
 * The bytes in front of a bytes field `tag` of `length` bytes that is a message's only field:
 * envelope, tag, varint length. Writes them ending at `end` and returns where they start.
 */
export function writeFieldPrefix(buf: Uint8Array, end: number, tag: number, length: number): number {
  const start = end - (5 + 1 + varintLength(length));
  writeEnvelope(buf, start, 1 + varintLength(length) + length);
  buf[start + 5] = tag;
  writeVarint(buf, start + 6, length);
  return start;
}

/** Largest prefix writeFieldPrefix writes (envelope 5 + tag 1 + varint ≤ 5). */
export const FIELD_PREFIX_MAX = 11;

/** A whole message enveloped (small messages: headers, requests). */
export function enveloped(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  writeEnvelope(out, 0, message.length);
  out.set(message, 5);
  return out;
}
