// The bulk data path of Download, written without copying the payload. connect-node serialises
// each data message with protobuf-es and then envelopes it (three copies of every chunk and the
// garbage collection they cause: 2.5–4.5 s of server CPU per GiB). Here the same handler, behind
// the same interceptors (call log, error statuses, auth), runs through Connect's own invoke
// machinery; only the writing differs: a data chunk read with spare bytes in front
// (fs/headroom.ts) gets its envelope, field tag and length written into those bytes and goes out
// as one buffer, whose memory returns to the chunk pool once the socket has taken it.
// It serves binary, uncompressed gRPC (HTTP/2), gRPC-Web and Connect streaming (HTTP/1.1 and
// HTTP/2: what browsers use); every other call, protocol and encoding takes connect-node's path.
import { once } from "node:events";
import { fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, createMethodImplSpec, type ContextValues, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { createAsyncIterable, transformInvokeImplementation } from "@connectrpc/connect/protocol";
import { DownloadRequestSchema, FileService, type DownloadRequest, type DownloadResponse } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { releaseChunk } from "../../fs/headroom.js";
import { frameMessage } from "./framing.js";
import { wireProtocolOf, writeHead, type FastPathRequest, type FastPathResponse, type WireProtocol } from "./wire-protocols.js";

const PATH = `/${FileService.typeName}/${FileService.method.download.name}`;
/** connect-node's default upper bound for a client's deadline header. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export interface DownloadFastPathOptions {
  impl: ServiceImpl<typeof FileService>["download"];
  interceptors: Interceptor[];
  contextValues: (req: FastPathRequest) => ContextValues;
  /** Largest request message accepted. */
  readMaxBytes: number;
}

/** The protocol this path serves the request with, or undefined: not a Download it can take. */
export function downloadFastPathProtocol(req: FastPathRequest): WireProtocol | undefined {
  return req.url === PATH ? wireProtocolOf(req) : undefined;
}

export function downloadFastPath(o: DownloadFastPathOptions) {
  const spec = createMethodImplSpec(FileService.method.download, o.impl);
  return async (req: FastPathRequest, res: FastPathResponse, protocol: WireProtocol): Promise<void> => {
    const aborted = new AbortController();
    // 'close' before the response finished: the client went away (reset stream, closed socket)
    res.once("close", () => {
      if (!res.writableFinished) aborted.abort(new ConnectError("client went away", Code.Canceled));
    });
    const timeout = protocol.timeout(req, MAX_TIMEOUT_MS);
    const context = createHandlerContext({
      service: FileService,
      method: FileService.method.download,
      protocolName: protocol.name,
      requestMethod: "POST",
      url: `http://${"authority" in req ? req.authority : req.headers.host}${PATH}`,
      timeoutMs: timeout.timeoutMs,
      requestSignal: aborted.signal,
      requestHeader: headersOf(req),
      contextValues: o.contextValues(req),
    });
    try {
      if (timeout.error) throw timeout.error;
      const requests = await readRequests(req, o.readMaxBytes);
      const messages = transformInvokeImplementation(spec, context, o.interceptors)(createAsyncIterable(requests));
      for await (const message of messages) {
        writeHead(res, protocol.contentType, context.responseHeader);
        if (!res.write(frameMessage(message as DownloadResponse), afterWrite(message as DownloadResponse))) await drainOrClose(res, context.signal);
        if (aborted.signal.aborted) return;
      }
      protocol.end(res, { header: context.responseHeader, trailer: context.responseTrailer });
    } catch (err) {
      if (aborted.signal.aborted || responseGone(res)) return;
      const error = err instanceof ConnectError ? err : new ConnectError("internal error", Code.Internal, undefined, undefined, err);
      protocol.end(res, { header: context.responseHeader, trailer: context.responseTrailer, error });
    }
  };
}

/**
 * The write callback of a data message: once the socket has taken the bytes, the chunk's memory
 * goes back to the pool (this path is the chunk's last user: the handler hashed it before yielding).
 */
function afterWrite(message: DownloadResponse): (() => void) | undefined {
  if (message.part.case !== "data") return undefined;
  const chunk = message.part.value;
  return () => releaseChunk(chunk);
}

/**
 * The enveloped DownloadRequests of the request body (the invoke step refuses anything but
 * exactly one, with connect-es's own status and message).
 */
async function readRequests(req: FastPathRequest, maxBytes: number): Promise<DownloadRequest[]> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes + 5) throw new ConnectError(`request message larger than ${maxBytes} bytes`, Code.ResourceExhausted);
    parts.push(chunk);
  }
  const body = Buffer.concat(parts, size);
  const messages: DownloadRequest[] = [];
  for (let at = 0; at < body.length; ) {
    if (body.length - at < 5 || body.length - at - 5 < body.readUInt32BE(at + 1)) throw new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
    if (body[at] & 1) throw new ConnectError("protocol error: received compressed message without a content encoding", Code.Internal);
    const end = at + 5 + body.readUInt32BE(at + 1);
    try {
      messages.push(fromBinary(DownloadRequestSchema, body.subarray(at + 5, end)));
    } catch (err) {
      throw new ConnectError(`invalid DownloadRequest: ${String(err)}`, Code.InvalidArgument);
    }
    at = end;
  }
  return messages;
}

function headersOf(req: FastPathRequest): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith(":") || v === undefined) continue;
    h.set(k, Array.isArray(v) ? v.join(", ") : String(v));
  }
  return h;
}

const responseGone = (res: FastPathResponse) => ("stream" in res ? res.stream.destroyed : res.destroyed);

/** Waits until the response can take more, or it closed, or the call ended (deadline, cancel). */
function drainOrClose(res: FastPathResponse, call: AbortSignal): Promise<unknown> {
  const settled = new AbortController();
  const signal = settled.signal;
  return Promise.race([
    once(res, "drain", { signal }).catch(() => undefined),
    once(res, "close", { signal }).catch(() => undefined),
    once(call, "abort", { signal }).catch(() => undefined),
  ]).finally(() => settled.abort());
}
