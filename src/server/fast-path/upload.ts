// The bulk data path of Upload over gRPC (HTTP/2, binary, uncompressed: what the CLI, the Go and
// grpc-js clients and grpcurl send). connect-node reads a request stream through several async
// iterator steps per HTTP/2 DATA frame and copies every message into a fresh zero-filled buffer;
// with grpc-go's 16 KiB frames that cost ~5 s of server CPU per GiB. Here the body is split into
// messages synchronously as frames arrive (request-envelopes.ts), the messages queue up to a
// bound (the stream is paused beyond it: HTTP/2 flow control then holds the client back), and the
// same Upload handler runs behind the same interceptors through Connect's invoke machinery.
// Other protocols (Connect client streaming, JSON, compression) take connect-node's path.
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createMethodImplSpec } from "@connectrpc/connect";
import { transformInvokeImplementation } from "@connectrpc/connect/protocol";
import { FileService, UploadRequestSchema, UploadResponseSchema, type UploadRequest, type UploadResponse } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { chunkPool } from "../../fs/headroom.js";
import { responseGone, startCall, statusOf, type FastPathOptions } from "./call-context.js";
import { nextFairTurn } from "./fair-turns.js";
import { envelope } from "./framing.js";
import { EnvelopeSplitter } from "./request-envelopes.js";
import { wireProtocolOf, writeHead, type FastPathRequest, type FastPathResponse, type WireProtocol } from "./wire-protocols.js";

const PATH = `/${FileService.typeName}/${FileService.method.upload.name}`;
/** Messages at least this large (data chunks, not headers) wait for a fair turn (fair-turns.ts). */
const FAIR_TURN_BYTES = 64 * 1024;
/** Request bytes parsed and waiting for the handler before the stream is paused. */
const QUEUE_BYTES = 4 * 1024 * 1024;

export type UploadFastPathOptions = FastPathOptions<"upload">;

/** The protocol this path serves the request with (gRPC only), or undefined. */
export function uploadFastPathProtocol(req: FastPathRequest): WireProtocol | undefined {
  if (req.url !== PATH) return undefined;
  const protocol = wireProtocolOf(req);
  return protocol?.name === "grpc" ? protocol : undefined;
}

export function uploadFastPath(o: UploadFastPathOptions) {
  const spec = createMethodImplSpec(FileService.method.upload, o.impl);
  return async (req: FastPathRequest, res: FastPathResponse, protocol: WireProtocol): Promise<void> => {
    const { context, clientGone, timeoutError } = startCall(req, res, protocol, FileService.method.upload, o.contextValues(req));
    let stopReading: () => void = () => void req.resume();
    try {
      if (timeoutError) throw timeoutError;
      const requests = requestMessages(req, o.readMaxBytes, clientGone);
      stopReading = requests.discardRest;
      for await (const message of transformInvokeImplementation(spec, context, o.interceptors)(requests)) {
        writeHead(res, protocol.contentType, context.responseHeader);
        res.write(envelope(0, toBinary(UploadResponseSchema, message as UploadResponse)));
      }
      protocol.end(res, { header: context.responseHeader, trailer: context.responseTrailer });
    } catch (err) {
      if (clientGone.aborted || responseGone(res)) return;
      protocol.end(res, { header: context.responseHeader, trailer: context.responseTrailer, error: statusOf(err) });
    }
    // A handler that answered before reading everything (a refused header): the rest is dropped.
    stopReading();
  };
}

/**
 * The request's UploadRequests as an async iterable, parsed as the body arrives. At most
 * QUEUE_BYTES wait for the handler; the body is paused beyond that. It ends at the end of the
 * body, and fails when the body is malformed or the client goes away before finishing it.
 */
function requestMessages(req: FastPathRequest, maxBytes: number, clientGone: AbortSignal): AsyncIterable<UploadRequest> & { discardRest(): void } {
  const splitter = new EnvelopeSplitter(maxBytes);
  const queue: { message: UploadRequest; bytes: number }[] = [];
  let queued = 0;
  let ended = false;
  let failure: unknown;
  let discarding = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const fail = (err: unknown) => {
    failure ??= err;
    req.pause();
    notify();
  };

  req.on("data", (chunk: Buffer) => {
    if (failure !== undefined || discarding) return;
    try {
      for (const bytes of splitter.push(chunk)) {
        queue.push({ message: decode(bytes), bytes: bytes.length });
        queued += bytes.length;
      }
    } catch (err) {
      fail(err);
      return;
    }
    if (queued > QUEUE_BYTES) req.pause();
    notify();
  });
  req.once("end", () => {
    try {
      splitter.finish();
      ended = true;
      notify();
    } catch (err) {
      fail(err);
    }
  });
  clientGone.addEventListener("abort", () => fail(clientGone.reason), { once: true });
  req.once("error", fail);

  return {
    /** Once the handler is done: whatever else the client sends is read and dropped. */
    discardRest() {
      discarding = true;
      queue.length = 0;
      if (!req.complete) req.resume();
    },
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const next = queue.shift();
        if (next) {
          // hashing and writing this message happen when the handler resumes: in a turn of its own
          if (next.bytes > FAIR_TURN_BYTES) await nextFairTurn();
          queued -= next.bytes;
          if (queued <= QUEUE_BYTES / 2 && req.isPaused() && failure === undefined) req.resume();
          yield next.message;
          continue;
        }
        if (failure !== undefined) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

function decode(bytes: Uint8Array): UploadRequest {
  try {
    const message = fromBinary(UploadRequestSchema, bytes);
    // the data field is a view into the message: it now stands for the pooled buffer, if any
    if (message.part.case === "data") chunkPool.transfer(bytes, message.part.value);
    return message;
  } catch (err) {
    throw new ConnectError(`invalid UploadRequest: ${String(err)}`, Code.InvalidArgument);
  }
}
