// Every connection the server accepts, from accept to close, before any auth: how many there
// are (in total and per peer address), which state each is in, and the deadlines that end it.
//
//   new     accepted; the TLS handshake, the protocol sniff, the first HTTP/1.1 request head
//           or the client's HTTP/2 SETTINGS have not all arrived yet → closed at the handshake
//           deadline; the first to go when the total cap is reached
//   active  at least one request or stream in flight → never timed out or evicted here
//   idle    between requests → HTTP/1.1: closed after the keep-alive time;
//           HTTP/2: GOAWAY after the idle time; evicted (after every `new` one) at the cap
//
// Beyond the per-peer cap a new connection is refused (destroyed at accept). At the total cap
// the oldest `new` connection, else the oldest `idle` one, makes room; when every connection is
// busy the new one is refused.
import { readFileSync } from "node:fs";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type * as net from "node:net";
import type { Logger } from "../log.js";

export interface ConnectionLimitOptions {
  /** Connections open at once, in total (default DEFAULT_MAX_CONNECTIONS, lowered to fit the fd limit). */
  maxConnections?: number;
  /** Connections open at once from one peer address (default DEFAULT_MAX_CONNECTIONS_PER_PEER, at most half the total). */
  maxConnectionsPerPeer?: number;
  /** From accept to the end of the TLS handshake, the protocol sniff and the first request head / HTTP/2 SETTINGS. */
  handshakeTimeoutMs?: number;
  /** An HTTP/2 session with no open stream for this long gets a GOAWAY. */
  idleTimeoutMs?: number;
  /** An HTTP/1.1 connection with no request for this long is closed (the keep-alive time). */
  keepAliveTimeoutMs?: number;
}

// Measured with `node bench/idle-connections.mjs` (1,000 connections on loopback, Node 20, 3 runs on
// this 2-core VM): server RSS per idle connection ≈ 5 KiB while sniffing, ≈ 10 KiB idle HTTP/1.1
// keep-alive, ≈ 29–30 KiB idle HTTP/2 session. 1,024 connections in the dearest state ≈ 30 MiB and
// 1,024 fds: the default total.
export const DEFAULT_MAX_CONNECTIONS = 1024;
// Per address: a reverse proxy or a NAT puts many honest callers behind one address; 256 leaves
// room for them while one address can hold at most a quarter of the default total.
export const DEFAULT_MAX_CONNECTIONS_PER_PEER = 256;
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 30_000;
/** File descriptors kept out of the connection budget: files, directories and the runtime's own. */
export const FD_RESERVE = 128;

/** The soft RLIMIT_NOFILE from /proc/self/limits (Node raises it to the hard limit at start); undefined if unknown or unlimited. */
export function softFdLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (!m || m[1] === "unlimited") return undefined;
  const n = Number(m[1]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Connections the fd limit allows: at most half of it, and FD_RESERVE below it. */
export function fdBudget(softLimit: number): number {
  return Math.max(1, Math.min(softLimit - FD_RESERVE, Math.floor(softLimit / 2)));
}

export interface ResolvedLimits {
  maxConnections: number;
  maxConnectionsPerPeer: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** The configured total, when the fd limit lowered it. */
  loweredFrom?: number;
  softFdLimit?: number;
}

export function resolveLimits(o: ConnectionLimitOptions = {}, soft = softFdLimit()): ResolvedLimits {
  const configured = o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const max = soft === undefined ? configured : Math.min(configured, fdBudget(soft));
  return {
    maxConnections: max,
    // by default one address gets at most half of the total, so that it cannot take every slot
    maxConnectionsPerPeer: o.maxConnectionsPerPeer ?? Math.min(DEFAULT_MAX_CONNECTIONS_PER_PEER, Math.max(1, Math.floor(max / 2))),
    handshakeTimeoutMs: o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    idleTimeoutMs: o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
    keepAliveTimeoutMs: o.keepAliveTimeoutMs ?? DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    ...(max < configured ? { loweredFrom: configured } : {}),
    softFdLimit: soft,
  };
}

type State = "new" | "active" | "idle";

interface Conn {
  key: string;
  socket: net.Socket;
  peer: string;
  state: State;
  /** Requests (HTTP/1.1) or streams (HTTP/2) in flight. */
  inFlight: number;
  timer?: NodeJS.Timeout;
  session?: http2.ServerHttp2Session;
}

/** The same key for the accepted socket, the TLS socket over it and an HTTP/2 session's socket proxy. */
const keyOf = (s: Pick<net.Socket, "remoteAddress" | "remotePort" | "localAddress" | "localPort">) =>
  `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;

const peerOf = (address: string) => (address.startsWith("::ffff:") ? address.slice(7) : address);

/** Ends a connection now: through its HTTP/2 session if it has one (the client gets a GOAWAY first), and its socket. */
function destroy(conn: Conn): void {
  conn.session?.destroy();
  conn.socket.destroy();
}

export class ConnectionTable {
  readonly limits: ResolvedLimits;
  /** Insertion order is age: the first `new` entry is the oldest one. */
  private readonly conns = new Map<string, Conn>();
  private readonly perPeer = new Map<string, number>();
  private readonly counts = { refusedPerPeer: 0, refusedFull: 0, evicted: 0, timedOut: 0 };
  private reportTimer?: NodeJS.Timeout;

  constructor(
    options: ConnectionLimitOptions = {},
    private readonly logger?: Logger,
  ) {
    this.limits = resolveLimits(options);
    if (this.limits.loweredFrom !== undefined) {
      logger?.warn({
        msg: "connection cap lowered to fit the open-files limit",
        maxConnections: this.limits.maxConnections,
        configured: this.limits.loweredFrom,
        softFdLimit: this.limits.softFdLimit,
        reserve: FD_RESERVE,
      });
    }
  }

  get size(): number {
    return this.conns.size;
  }

  /** At accept, before anything is read: false (and the socket destroyed) when a cap refuses it. */
  admit(socket: net.Socket): boolean {
    const address = socket.remoteAddress;
    if (address === undefined) {
      socket.destroy();
      return false;
    }
    const peer = peerOf(address);
    const fromPeer = this.perPeer.get(peer) ?? 0;
    if (fromPeer >= this.limits.maxConnectionsPerPeer) return this.refuse(socket, "refusedPerPeer");
    if (this.conns.size >= this.limits.maxConnections && !this.evictOne()) return this.refuse(socket, "refusedFull");

    const key = keyOf(socket);
    const conn: Conn = { key, socket, peer, state: "new", inFlight: 0 };
    this.conns.set(key, conn);
    this.perPeer.set(peer, fromPeer + 1);
    this.arm(conn, this.limits.handshakeTimeoutMs, () => {
      this.count("timedOut");
      destroy(conn);
    });
    socket.once("close", () => {
      clearTimeout(conn.timer);
      if (this.conns.get(key) === conn) this.conns.delete(key);
      const left = (this.perPeer.get(peer) ?? 1) - 1;
      if (left > 0) this.perPeer.set(peer, left);
      else this.perPeer.delete(peer);
    });
    return true;
  }

  /** An HTTP/1.1 request whose head has arrived (on the accepted socket or the TLS socket over it). */
  trackRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const conn = this.conns.get(keyOf(req.socket));
    if (!conn) return;
    this.begin(conn);
    res.once("close", () => this.end(conn));
  }

  /** An HTTP/2 session: `new` until the client's SETTINGS arrive, then active while a stream is open. */
  trackSession(session: http2.ServerHttp2Session): void {
    const socket = session.socket;
    const conn = socket && this.conns.get(keyOf(socket));
    if (!conn) return;
    conn.session = session;
    session.once("remoteSettings", () => {
      if (conn.state === "new") this.toIdle(conn);
    });
    session.on("stream", (stream: http2.ServerHttp2Stream) => {
      this.begin(conn);
      stream.once("close", () => this.end(conn));
    });
  }

  /** Closes every connection that is not serving a request now (server shutdown). */
  closeIdle(): void {
    for (const conn of [...this.conns.values()]) if (conn.state !== "active") this.close(conn);
  }

  destroyAll(): void {
    for (const conn of [...this.conns.values()]) destroy(conn);
  }

  private begin(conn: Conn): void {
    conn.inFlight++;
    conn.state = "active";
    clearTimeout(conn.timer);
  }

  private end(conn: Conn): void {
    conn.inFlight = Math.max(0, conn.inFlight - 1);
    if (conn.inFlight === 0 && !conn.socket.destroyed) this.toIdle(conn);
  }

  private toIdle(conn: Conn): void {
    conn.state = "idle";
    const ms = conn.session ? this.limits.idleTimeoutMs : this.limits.keepAliveTimeoutMs;
    this.arm(conn, ms, () => this.close(conn));
  }

  /** HTTP/2: GOAWAY, then the socket closes once no stream is open; otherwise the socket is destroyed. */
  private close(conn: Conn): void {
    if (conn.session && !conn.session.closed && !conn.session.destroyed) {
      conn.session.close();
      // a peer that neither answers nor closes must not keep the fd
      this.arm(conn, 1000, () => destroy(conn));
    } else destroy(conn);
  }

  private arm(conn: Conn, ms: number, fire: () => void): void {
    clearTimeout(conn.timer);
    conn.timer = setTimeout(fire, ms);
    conn.timer.unref();
  }

  /** Frees one slot at the total cap: the oldest `new` connection, else the oldest `idle` one. */
  private evictOne(): boolean {
    let idle: Conn | undefined;
    for (const conn of this.conns.values()) {
      if (conn.socket.destroyed) continue;
      if (conn.state === "new") {
        this.evict(conn);
        return true;
      }
      if (conn.state === "idle") idle ??= conn;
    }
    if (idle) this.evict(idle);
    return idle !== undefined;
  }

  private evict(conn: Conn): void {
    this.count("evicted");
    // the slot is free now, whatever the peer does with the GOAWAY
    this.conns.delete(conn.key);
    if (conn.state === "idle" && conn.session) {
      conn.session.close();
      this.arm(conn, 1000, () => destroy(conn));
    } else destroy(conn);
  }

  private refuse(socket: net.Socket, why: "refusedPerPeer" | "refusedFull"): false {
    this.count(why);
    socket.destroy();
    return false;
  }

  /** One log line per 10 s at most while limits are being hit, however hard. */
  private count(what: keyof ConnectionTable["counts"]): void {
    this.counts[what]++;
    if (this.reportTimer || !this.logger) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      this.logger!.warn({ msg: "connection limits hit", ...this.counts, open: this.conns.size, ...this.limits });
      for (const k of Object.keys(this.counts) as (keyof typeof this.counts)[]) this.counts[k] = 0;
    }, 10_000);
    this.reportTimer.unref();
  }
}
