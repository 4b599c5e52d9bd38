// One port for every protocol. Cleartext: the first bytes of a connection are
// peeked; the HTTP/2 preface goes to an h2c server (gRPC, and Connect/gRPC-Web
// over h2c), anything else to an HTTP/1.1 server (browsers, curl). TLS: one
// HTTP/2 server with ALPN and allowHTTP1. Both share a single request handler.
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";

type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

export interface TransportOptions {
  /** HTTP/2 stream flow-control window (default 8 MiB: the biggest single throughput lever). */
  streamWindowBytes?: number;
  /** HTTP/2 connection window (default 32 MiB). */
  sessionWindowBytes?: number;
  /** PEM certificate and key: serve TLS (h2 and http/1.1 via ALPN) instead of cleartext. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

export interface Transport {
  server: net.Server;
  /** Stops accepting, closes idle connections, and ends HTTP/2 sessions gracefully. */
  close(): Promise<void>;
}

export function createTransport(handler: Handler, options: TransportOptions = {}): Transport {
  const streamWindow = options.streamWindowBytes ?? 8 * 1024 * 1024;
  const sessionWindow = options.sessionWindowBytes ?? 32 * 1024 * 1024;
  const settings: http2.Settings = { initialWindowSize: streamWindow, maxFrameSize: 1024 * 1024 - 1 };
  const sessions = new Set<http2.ServerHttp2Session>();
  const onSession = (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once("close", () => sessions.delete(session));
    session.once("connect", () => session.setLocalWindowSize(sessionWindow));
    if (!session.connecting) session.setLocalWindowSize(sessionWindow);
  };

  if (options.tls) {
    const server = http2.createSecureServer({ ...options.tls, allowHTTP1: true, settings }, handler as never);
    server.on("session", onSession);
    return { server, close: () => closeGracefully(server, sessions, () => sessions.forEach((s) => s.destroy())) };
  }

  const h2 = http2.createServer({ settings }, handler as never);
  h2.on("session", onSession);
  const h1 = http.createServer(handler as never);
  h1.keepAliveTimeout = 30_000;
  h1.on("request", drainUnreadBody);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.once("error", () => socket.destroy());
    sniff(socket, (isHttp2) => {
      (isHttp2 ? h2 : h1).emit("connection", socket);
      // The http parser reads the handle directly; the peeked bytes wait in the
      // stream's buffer and reach it through the 'data' listener once resumed.
      if (!isHttp2) socket.resume();
    });
  });
  return {
    server,
    close: () => {
      // idle HTTP/1.1 keep-alive sockets close now; every socket still busy (HTTP/1.1 or h2c) after the grace period is destroyed
      h1.closeIdleConnections();
      return closeGracefully(server, sessions, () => sockets.forEach((s) => s.destroy()));
    },
  };
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
