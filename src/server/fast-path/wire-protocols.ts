// The three protocols the Download fast path speaks, and how each one starts and ends a server
// stream. They share the message envelope (framing.ts) and differ in their headers and in where
// the final status goes: gRPC in HTTP/2 trailers, gRPC-Web in a trailer frame in the body, Connect
// in an end-stream frame holding JSON. Status encoding comes from connect-es itself, so errors
// read exactly as connect-node's own handlers write them.
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { createEndStreamSerialization, endStreamFlag, parseTimeout as parseConnectTimeout } from "@connectrpc/connect/protocol-connect";
import { parseTimeout as parseGrpcTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { envelope } from "./framing.js";

/** HTTP/1.1 or HTTP/2 (compat API), as connect-node's adapter takes them. */
export type FastPathRequest = http.IncomingMessage | http2.Http2ServerRequest;
export type FastPathResponse = (Omit<http.ServerResponse, "write"> | Omit<http2.Http2ServerResponse, "write">) & {
  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean;
};

export interface StreamEnd {
  /** Response headers the handler set (sent now if nothing was sent yet). */
  header: Headers;
  trailer: Headers;
  error?: ConnectError;
}

export interface WireProtocol {
  /** connect-es's name for the protocol (HandlerContext.protocolName, call logs). */
  readonly name: "grpc" | "grpc-web" | "connect";
  readonly contentType: string;
  /** The request's deadline header, parsed (an error is reported as the call's status). */
  timeout(req: FastPathRequest, maxTimeoutMs: number): { timeoutMs?: number; error?: ConnectError };
  /** Ends the response with the call's status, after the messages or alone when none was sent. */
  end(res: FastPathResponse, end: StreamEnd): void;
}

const header = (req: FastPathRequest, name: string): string | null => {
  const v = req.headers[name];
  return typeof v === "string" ? v : null;
};
const identity = (v: string | null) => v === null || v === "identity";

/** Headers as a plain object for writeHead/respond (multi-valued names joined as fetch does). */
function headersObject(h: Headers): Record<string, string> {
  const o: Record<string, string> = {};
  h.forEach((value, key) => (o[key] = value));
  return o;
}

/** The response head, once: content type plus what the handler put in its response headers. */
export function writeHead(res: FastPathResponse, contentType: string, h: Headers): void {
  if (res.headersSent) return;
  (res as http.ServerResponse).writeHead(200, { ...headersObject(h), "content-type": contentType });
}

const grpc: WireProtocol = {
  name: "grpc",
  contentType: "application/grpc+proto",
  timeout: (req, max) => parseGrpcTimeout(header(req, "grpc-timeout"), max),
  end(res, { header: h, trailer, error }) {
    const status = setTrailerStatus(new Headers(trailer), error);
    const h2res = res as http2.Http2ServerResponse;
    if (!res.headersSent) {
      // trailers-only: one HEADERS frame with END_STREAM that carries the status (and any
      // headers set on the response before the handler ran, e.g. CORS)
      const early: Record<string, string> = {};
      for (const [k, v] of Object.entries(h2res.getHeaders())) if (v !== undefined) early[k] = String(v);
      h2res.stream.respond({ ...early, ...headersObject(h), ":status": 200, "content-type": this.contentType, ...headersObject(status) }, { endStream: true });
      return;
    }
    h2res.addTrailers(headersObject(status));
    h2res.end();
  },
};

const grpcWeb: WireProtocol = {
  name: "grpc-web",
  contentType: "application/grpc-web+proto",
  timeout: (req, max) => parseGrpcTimeout(header(req, "grpc-timeout"), max),
  end(res, { header: h, trailer, error }) {
    writeHead(res, this.contentType, h);
    res.end(envelope(trailerFlag, trailerSerialize(setTrailerStatus(new Headers(trailer), error))));
  },
};

const endStream = createEndStreamSerialization({});
const connect: WireProtocol = {
  name: "connect",
  contentType: "application/connect+proto",
  timeout: (req, max) => parseConnectTimeout(header(req, "connect-timeout-ms"), max),
  end(res, { header: h, trailer, error }) {
    writeHead(res, this.contentType, h);
    res.end(envelope(endStreamFlag, endStream.serialize({ metadata: trailer, error })));
  },
};

/**
 * The protocol of a request the fast path can serve: binary (not JSON), uncompressed, POST; gRPC
 * only over HTTP/2 (it needs trailers). Anything else goes to connect-node.
 */
export function wireProtocolOf(req: FastPathRequest): WireProtocol | undefined {
  if (req.method !== "POST") return undefined;
  switch (req.headers["content-type"]) {
    case "application/grpc":
    case "application/grpc+proto":
      return req.httpVersionMajor === 2 && identity(header(req, "grpc-encoding")) ? grpc : undefined;
    case "application/grpc-web":
    case "application/grpc-web+proto":
      return identity(header(req, "grpc-encoding")) ? grpcWeb : undefined;
    case "application/connect+proto":
      return identity(header(req, "connect-content-encoding")) ? connect : undefined;
    default:
      return undefined;
  }
}
