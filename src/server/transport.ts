// One port for every protocol. Cleartext: the first bytes of a connection are
// peeked; the HTTP/2 preface goes to an h2c server (gRPC, and Connect/gRPC-Web
// over h2c), anything else to an HTTP/1.1 server (browsers, curl). TLS: one
// HTTP/2 server with ALPN and allowHTTP1. TLS with allowCleartext: a first byte
// 0x16 (a TLS handshake record) goes to the TLS server, anything else to the
// cleartext sniff. All share a single request handler, behind one accept point
// that caps and times out connections (connection-limits.ts).
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { Logger } from "../log.js";
import { ConnectionTable, type ConnectionLimitOptions, type ResolvedLimits } from "./connection-limits.js";

type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

export interface TransportOptions {
  /** HTTP/2 stream flow-control window (default 8 MiB: the biggest single throughput lever). */
  streamWindowBytes?: number;
  /** HTTP/2 connection window (default 32 MiB). */
  sessionWindowBytes?: number;
  /** PEM certificate and key: serve TLS (h2 and http/1.1 via ALPN) instead of cleartext. */
  tls?: TlsOptions;
  /** Caps and deadlines on connections, applied at accept, before any auth (src/server/connection-limits.ts). */
  connections?: ConnectionLimitOptions;
  /** Where hitting a connection limit is reported (one line per 10 s at most). */
  logger?: Logger;
}

export interface TlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
  /**
   * PEM CA bundle that client certificates are verified against. The certificate is asked for,
   * never required: a client without one still connects (bearer tokens over TLS), and one that
   * does not verify is not refused at the handshake either; the socket's `authorized` says
   * which it was (src/server/request-state.ts peerCertificateOf).
   */
  clientCa?: string | Buffer;
  /** Serve cleartext (h2c and HTTP/1.1) on the same port too: the first byte tells TLS from cleartext. */
  allowCleartext?: boolean;
}

/** The first byte of every TLS connection: a handshake record (RFC 8446 5.1, content type 22). */
const TLS_HANDSHAKE_RECORD = 0x16;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface Transport {
  server: net.Server;
  /** The connection caps and deadlines in force (the total lowered to fit the fd limit). */
  limits: ResolvedLimits;
  /** Stops accepting, closes idle connections, and ends HTTP/2 sessions gracefully. */
  close(): Promise<void>;
}

export function createTransport(handler: Handler, options: TransportOptions = {}): Transport {
  const streamWindow = options.streamWindowBytes ?? 8 * 1024 * 1024;
  const sessionWindow = options.sessionWindowBytes ?? 32 * 1024 * 1024;
  const settings: http2.Settings = { initialWindowSize: streamWindow, maxFrameSize: 1024 * 1024 - 1 };
  const table = new ConnectionTable(options.connections, options.logger);
  const { handshakeTimeoutMs, keepAliveTimeoutMs } = table.limits;
  const sessions = new Set<http2.ServerHttp2Session>();
  const onSession = (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.once("connect", () => session.setLocalWindowSize(sessionWindow));
    if (!session.connecting) session.setLocalWindowSize(sessionWindow);
    table.trackSession(session);
  };
  const onRequest = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
    if (req.httpVersionMajor !== 1) return; // HTTP/2 streams are tracked per session
    table.trackRequest(req as http.IncomingMessage, res as http.ServerResponse);
    drainUnreadBody(req as http.IncomingMessage, res as http.ServerResponse);
  };

  // One accept point for all: the caps apply before a single byte is read, TLS included.
  let secure: ((socket: net.Socket) => void) | undefined;
  if (options.tls) {
    const { cert, key, clientCa } = options.tls;
    const verify = clientCa ? { requestCert: true, rejectUnauthorized: false, ca: clientCa } : {};
    const s = http2.createSecureServer({ cert, key, ...verify, allowHTTP1: true, settings, handshakeTimeout: handshakeTimeoutMs }, handler as never);
    s.on("session", onSession);
    s.on("request", onRequest);
    (s as unknown as http.Server).keepAliveTimeout = keepAliveTimeoutMs;
    secure = (socket) => s.emit("connection", socket);
  }
  let cleartext: ((socket: net.Socket) => void) | undefined;
  if (!options.tls || options.tls.allowCleartext) {
    const h2 = http2.createServer({ settings }, handler as never);
    h2.on("session", onSession);
    const h1 = http.createServer(handler as never);
    h1.keepAliveTimeout = keepAliveTimeoutMs;
    h1.on("request", onRequest);
    cleartext = (socket) =>
      sniff(socket, (isHttp2) => {
        (isHttp2 ? h2 : h1).emit("connection", socket);
        // The http parser reads the handle directly; the peeked bytes wait in the
        // stream's buffer and reach it through the 'data' listener once resumed.
        if (!isHttp2) socket.resume();
      });
  }
  const route: (socket: net.Socket) => void =
    secure && cleartext
      ? (socket) =>
          // TLSSocket feeds the bytes already buffered on the socket to its handshake first.
          peekFirstByte(socket, (byte) => (byte === TLS_HANDSHAKE_RECORD ? secure : cleartext)!(socket))
      : (secure ?? cleartext)!;
  const server = net.createServer((socket) => {
    socket.on("error", () => socket.destroy());
    if (table.admit(socket)) route(socket);
  });
  return {
    server,
    limits: table.limits,
    close: () => {
      // connections between requests close now; every one still busy after the grace period is destroyed
      table.closeIdle();
      return closeGracefully(server, sessions, () => table.destroyAll());
    },
  };
}

/** Reads the first chunk, puts it back, and hands the first byte on. */
function peekFirstByte(socket: net.Socket, route: (byte: number) => void): void {
  socket.once("data", (chunk: Buffer) => {
    socket.pause();
    socket.unshift(chunk);
    route(chunk[0]);
  });
}

/** Reads until the preface can be told apart, then puts the bytes back. */
function sniff(socket: net.Socket, route: (isHttp2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, PREFACE.length);
    const matches = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
    if (matches && seen.length < PREFACE.length) return; // need more bytes
    socket.off("data", onData);
    socket.pause();
    socket.unshift(seen);
    route(matches);
  };
  socket.on("data", onData);
  // after peekFirstByte the socket is paused, and a 'data' listener alone does not restart it
  socket.resume();
}

/** Stops accepting and ends HTTP/2 sessions gracefully; forceClose runs if connections remain after graceMs. */
function closeGracefully(server: net.Server, sessions: Set<http2.ServerHttp2Session>, forceClose: () => void, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(forceClose, graceMs);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    for (const s of sessions) s.close();
  });
}

/**
 * A handler that answers before reading the whole request body (an Upload
 * refused early) leaves the rest unread. Node discards unread bodies only when
 * nobody started reading them, and resume() does nothing while connect-node's
 * 'readable' listener is attached, so read the rest out once the response is
 * sent, or the next keep-alive request on the socket stalls.
 */
function drainUnreadBody(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.once("finish", () => {
    if (req.complete) return;
    const drain = () => {
      while (req.read() !== null);
    };
    req.on("readable", drain);
    drain();
  });
}
