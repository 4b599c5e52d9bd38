// What the fast paths share around one call: the handler context connect-node would build for it
// (deadline, headers, context values, a signal that fires when the client goes away), and the
// mapping of whatever the handler threw to a status.
import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError, createHandlerContext, type ContextValues, type HandlerContext, type Interceptor, type ServiceImpl } from "@connectrpc/connect";
import { FileService } from "../../../gen/ts/podfiles/v1/files_pb.js";
import type { FastPathRequest, FastPathResponse, WireProtocol } from "./wire-protocols.js";

/** connect-node's default upper bound for a client's deadline header. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** What a fast path needs to run one FileService method as connect-node would. */
export interface FastPathOptions<M extends "download" | "upload"> {
  /** The method's handler (the same one connect-node serves). */
  impl: ServiceImpl<typeof FileService>[M];
  /** The server's interceptors (call log, error statuses, auth), in connect-node's order. */
  interceptors: Interceptor[];
  contextValues: (req: FastPathRequest) => ContextValues;
  /** Largest request message accepted. */
  readMaxBytes: number;
}

export interface FastPathCall {
  context: HandlerContext;
  /** Aborted when the response closes before it finished: the client reset the stream or left. */
  clientGone: AbortSignal;
  /** A malformed deadline header, to be reported as the call's status. */
  timeoutError?: ConnectError;
}

export function startCall(req: FastPathRequest, res: FastPathResponse, protocol: WireProtocol, method: DescMethod, contextValues: ContextValues): FastPathCall {
  const gone = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) gone.abort(new ConnectError("client went away", Code.Canceled));
  });
  const timeout = protocol.timeout(req, MAX_TIMEOUT_MS);
  const context = createHandlerContext({
    service: FileService,
    method: method as never,
    protocolName: protocol.name,
    requestMethod: "POST",
    url: `http://${"authority" in req ? req.authority : req.headers.host}${req.url}`,
    timeoutMs: timeout.timeoutMs,
    requestSignal: gone.signal,
    requestHeader: headersOf(req),
    contextValues,
  });
  return { context, clientGone: gone.signal, timeoutError: timeout.error };
}

/** The status of a failed call, as connect-node reports what a handler throws. */
export const statusOf = (err: unknown): ConnectError =>
  err instanceof ConnectError ? err : new ConnectError("internal error", Code.Internal, undefined, undefined, err);

/** True once the response can carry nothing more. */
export const responseGone = (res: FastPathResponse) => ("stream" in res ? res.stream.destroyed : res.destroyed);

function headersOf(req: FastPathRequest): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith(":") || v === undefined) continue;
    h.set(k, Array.isArray(v) ? v.join(", ") : String(v));
  }
  return h;
}
