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
import { Code, ConnectError, createMethodImplSpec } from "@connectrpc/connect";
import { createAsyncIterable, transformInvokeImplementation } from "@connectrpc/connect/protocol";
import { DownloadRequestSchema, FileService, type DownloadRequest, type DownloadResponse } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { releaseChunk } from "../../fs/headroom.js";
import { responseGone, startCall, statusOf, type FastPathOptions } from "./call-context.js";
import { nextFairTurn } from "./fair-turns.js";
import { frameMessage } from "./framing.js";
import { EnvelopeSplitter } from "./request-envelopes.js";
import { wireProtocolOf, writeHead, type FastPathRequest, type FastPathResponse, type WireProtocol } from "./wire-protocols.js";

const PATH = `/${FileService.typeName}/${FileService.method.download.name}`;
/**
 * Bytes queued on the response before the loop waits for the socket (1 MiB chunks: the one being
 * sent and the next two). Bounds the memory per download whatever the client's windows.
 */
const WRITE_AHEAD_BYTES = 2 * 1024 * 1024;

export type DownloadFastPathOptions = FastPathOptions<"download">;

/** The protocol this path serves the request with, or undefined: not a Download it can take. */
export function downloadFastPathProtocol(req: FastPathRequest): WireProtocol | undefined {
  return req.url === PATH ? wireProtocolOf(req) : undefined;
}

export function downloadFastPath(o: DownloadFastPathOptions) {
  const spec = createMethodImplSpec(FileService.method.download, o.impl);
  return async (req: FastPathRequest, res: FastPathResponse, protocol: WireProtocol): Promise<void> => {
    const { context, clientGone, timeoutError } = startCall(req, res, protocol, FileService.method.download, o.contextValues(req));
    try {
      if (timeoutError) throw timeoutError;
      const requests = await readRequests(req, o.readMaxBytes);
      const messages = transformInvokeImplementation(spec, context, o.interceptors)(createAsyncIterable(requests));
      const inFlight = new BytesInFlight(WRITE_AHEAD_BYTES);
      for await (const message of messages) {
        writeHead(res, protocol.contentType, context.responseHeader);
        const framed = frameMessage(message as DownloadResponse);
        inFlight.add(framed.length);
        res.write(framed, afterWrite(message as DownloadResponse, inFlight, framed.length));
        if (inFlight.full) await settledOrClosed(inFlight, res, context.signal);
        if (clientGone.aborted) return;
        // the next chunk is hashed when the loop pulls the next message: in a turn of its own
        await nextFairTurn();
      }
      protocol.end(res, { header: context.responseHeader, trailer: context.responseTrailer });
    } catch (err) {
      if (clientGone.aborted || responseGone(res)) return;
      protocol.end(res, { header: context.responseHeader, trailer: context.responseTrailer, error: statusOf(err) });
    }
  };
}

/**
 * The write callback of a message: the bytes left the process, so they no longer count against
 * the write-ahead, and a data chunk's memory goes back to the pool (this path is the chunk's last
 * user: the handler hashed it before yielding).
 */
function afterWrite(message: DownloadResponse, inFlight: BytesInFlight, length: number): () => void {
  const chunk = message.part.case === "data" ? message.part.value : undefined;
  return () => {
    inFlight.done(length);
    if (chunk) releaseChunk(chunk);
  };
}

/**
 * Bytes handed to the response whose write callback has not run yet. Waiting for 'drain' after
 * every chunk (the response buffers 16 KiB) left the socket idle while the next chunk was read and
 * hashed; keeping a bounded amount queued keeps it busy without buffering the file.
 */
class BytesInFlight {
  private pending = 0;
  private wake?: () => void;

  constructor(private readonly limit: number) {}

  get full(): boolean {
    return this.pending > this.limit;
  }

  add(n: number): void {
    this.pending += n;
  }

  done(n: number): void {
    this.pending -= n;
    if (!this.full && this.wake) {
      const wake = this.wake;
      this.wake = undefined;
      wake();
    }
  }

  /** Resolves once the bytes in flight are back under the limit. */
  settled(): Promise<void> {
    return this.full ? new Promise((resolve) => (this.wake = resolve)) : Promise.resolve();
  }
}

/**
 * The enveloped DownloadRequests of the request body (the invoke step refuses anything but
 * exactly one, with connect-es's own status and message).
 */
async function readRequests(req: FastPathRequest, maxBytes: number): Promise<DownloadRequest[]> {
  const splitter = new EnvelopeSplitter(maxBytes);
  const messages: DownloadRequest[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    for (const bytes of splitter.push(chunk)) {
      try {
        messages.push(fromBinary(DownloadRequestSchema, bytes));
      } catch (err) {
        throw new ConnectError(`invalid DownloadRequest: ${String(err)}`, Code.InvalidArgument);
      }
    }
  }
  splitter.finish();
  return messages;
}

/** Waits until the bytes in flight are under the limit, or the response closed, or the call ended. */
function settledOrClosed(inFlight: BytesInFlight, res: FastPathResponse, call: AbortSignal): Promise<unknown> {
  const done = new AbortController();
  const signal = done.signal;
  return Promise.race([
    inFlight.settled(),
    once(res, "close", { signal }).catch(() => undefined),
    once(call, "abort", { signal }).catch(() => undefined),
  ]).finally(() => done.abort());
}
