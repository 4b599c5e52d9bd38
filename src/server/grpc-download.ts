// The bulk data path of gRPC Download over HTTP/2, written without copying
// the payload. connect-node serialises each data message with protobuf-es and
// then envelopes it (three copies of every chunk, and the garbage collection
// they cause: ~5 s of server CPU per GiB, 0.2× raw http2). Here the same
// handler, behind the same interceptors (call log, error statuses, auth), runs
// through Connect's own invoke machinery; only the writing differs: a data
// chunk read with spare bytes in front (fs/headroom.ts) gets its gRPC envelope,
// field tag and length written into those bytes and goes out as one buffer.
// Every other call, protocol and message takes the ordinary connect-node path.
import type * as http2 from "node:http2";
import { once } from "node:events";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, createMethodImplSpec, type ContextValues, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { createAsyncIterable, transformInvokeImplementation } from "@connectrpc/connect/protocol";
import { DownloadRequestSchema, DownloadResponseSchema, FileService, type DownloadRequest, type DownloadResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { hasHeadroom } from "../fs/headroom.js";

const PATH = `/${FileService.typeName}/${FileService.method.download.name}`;
const DATA_FIELD_TAG = (2 << 3) | 2; // DownloadResponse.data: field 2, length-delimited

export interface GrpcDownloadOptions {
  impl: ServiceImpl<typeof FileService>["download"];
  interceptors: Interceptor[];
  contextValues: (req: http2.Http2ServerRequest) => ContextValues;
  /** Largest request message accepted. */
  readMaxBytes: number;
}

/** True for requests this path serves: gRPC (not gRPC-Web) Download over HTTP/2, uncompressed. */
export function isGrpcDownload(req: { httpVersionMajor: number; method?: string; url?: string; headers: Record<string, unknown> }): boolean {
  if (req.httpVersionMajor !== 2 || req.method !== "POST" || req.url !== PATH) return false;
  const type = req.headers["content-type"];
  const encoding = req.headers["grpc-encoding"];
  return (type === "application/grpc" || type === "application/grpc+proto") && (encoding === undefined || encoding === "identity");
}

export function grpcDownloadHandler(o: GrpcDownloadOptions) {
  const spec = createMethodImplSpec(FileService.method.download, o.impl);
  return async (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse): Promise<void> => {
    const aborted = new AbortController();
    req.stream.once("close", () => aborted.abort(new ConnectError("client went away", Code.Canceled)));
    try {
      const request = await readRequest(req, o.readMaxBytes);
      const context = createHandlerContext({
        service: FileService,
        method: FileService.method.download,
        protocolName: "grpc",
        requestMethod: "POST",
        url: `http://${req.authority}${PATH}`,
        timeoutMs: parseTimeout(req.headers["grpc-timeout"]),
        requestSignal: aborted.signal,
        requestHeader: headersOf(req),
        contextValues: o.contextValues(req),
      });
      const messages = transformInvokeImplementation(spec, context, o.interceptors)(createAsyncIterable([request]));
      for await (const message of messages) {
        if (!res.headersSent) res.writeHead(200, { "content-type": "application/grpc+proto", "grpc-accept-encoding": "identity" });
        if (!res.write(frame(message as DownloadResponse))) await drainOrClose(res);
        if (aborted.signal.aborted) return;
      }
      if (!res.headersSent) res.writeHead(200, { "content-type": "application/grpc+proto" });
      res.addTrailers({ "grpc-status": "0" });
      res.end();
    } catch (err) {
      if (res.stream.closed || res.stream.destroyed) return;
      const status = ConnectError.from(err);
      const fields = { "grpc-status": String(status.code), "grpc-message": encodeURIComponent(status.rawMessage) };
      if (res.headersSent) {
        res.addTrailers(fields);
        res.end();
      } else {
        // a trailers-only response: one HEADERS frame with END_STREAM
        res.stream.respond({ ":status": 200, "content-type": "application/grpc+proto", ...fields }, { endStream: true });
      }
    }
  };
}

/** One enveloped message: the data chunk framed in place when it has headroom, else serialised. */
function frame(message: DownloadResponse): Uint8Array {
  if (message.part.case === "data" && hasHeadroom(message.part.value)) {
    const data = message.part.value;
    const varint = varintBytes(data.length);
    const messageLength = 1 + varint.length + data.length;
    const prefix = 5 + 1 + varint.length;
    const out = new Uint8Array(data.buffer, data.byteOffset - prefix, prefix + data.length);
    out[0] = 0; // not compressed
    new DataView(out.buffer, out.byteOffset + 1, 4).setUint32(0, messageLength);
    out[5] = DATA_FIELD_TAG;
    out.set(varint, 6);
    return out;
  }
  const body = toBinary(DownloadResponseSchema, message);
  const out = new Uint8Array(5 + body.length);
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

function varintBytes(n: number): number[] {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return bytes;
}

async function readRequest(req: http2.Http2ServerRequest, maxBytes: number): Promise<DownloadRequest> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes + 5) throw new ConnectError(`request message larger than ${maxBytes} bytes`, Code.ResourceExhausted);
    parts.push(chunk);
  }
  const body = Buffer.concat(parts, size);
  if (body.length < 5) throw new ConnectError("protocol error: missing input message for server-streaming method", Code.Unimplemented);
  if (body[0] & 1) throw new ConnectError("protocol error: compressed message without grpc-encoding", Code.Internal);
  const length = body.readUInt32BE(1);
  if (body.length !== 5 + length) throw new ConnectError("protocol error: expected exactly one request message", Code.InvalidArgument);
  try {
    return fromBinary(DownloadRequestSchema, body.subarray(5));
  } catch (err) {
    throw new ConnectError(`invalid DownloadRequest: ${String(err)}`, Code.InvalidArgument);
  }
}

function headersOf(req: http2.Http2ServerRequest): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith(":") || v === undefined) continue;
    h.set(k, Array.isArray(v) ? v.join(", ") : String(v));
  }
  return h;
}

/** grpc-timeout: digits and a unit (H, M, S, m, u, n) → milliseconds. */
export function parseTimeout(value: string | string[] | undefined): number | undefined {
  const m = typeof value === "string" ? /^(\d{1,8})([HMSmun])$/.exec(value) : null;
  if (!m) return undefined;
  const unitMs = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as "H"];
  return Number(m[1]) * unitMs;
}

function drainOrClose(res: http2.Http2ServerResponse): Promise<unknown> {
  const closed = new AbortController();
  return Promise.race([
    once(res, "drain", { signal: closed.signal }).catch(() => undefined),
    once(res.stream, "close", { signal: closed.signal }).catch(() => undefined),
  ]).finally(() => closed.abort());
}
