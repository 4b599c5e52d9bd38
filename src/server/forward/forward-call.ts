// Proxies one call, as it arrived, to the agent on another node: one pooled HTTP/2 session per
// peer, the request's headers (minus hop-by-hop ones) plus the hop marker and this agent's own
// credential, the body piped as it comes (the first message, already read to find the target,
// was put back at the front of the request stream), and the response's headers, data and
// trailers relayed untouched. Nothing is decoded: gRPC frames pass through. Both pipes honour
// backpressure (a caller that stops reading fills this agent's 8 MiB stream window to the peer
// and the peer stops reading its file), and a reset on either side closes the other.
import * as http2 from "node:http2";
import type * as http from "node:http";
import { unavailable } from "../../errors.js";
import type { NodeRequest } from "./call-target.js";

export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** The hop marker: the node of the agent that forwarded the call. A call that carries it is never forwarded again. */
export const FORWARDED_BY = "podfiles-forwarded-by";
/** The caller's address as the forwarding agent saw it (trusted only with a valid agent credential). */
export const FORWARDED_FOR = "podfiles-forwarded-for";
/** The forwarding agent's own credential (its ServiceAccount token), checked by the serving agent. */
export const AGENT_AUTHORIZATION = "podfiles-agent-authorization";

export interface Peer {
  /** The node the peer agent runs on (for messages). */
  node: string;
  /** host:port of the peer agent. */
  address: string;
}

export interface ForwardCallOptions {
  /** This agent's node: the hop marker's value. */
  self: string;
  /** `Bearer <this agent's token>` for AGENT_AUTHORIZATION, read per call (the token file rotates). */
  agentCredential?: () => string | undefined;
  /** The caller's identity assertion (forwarded-identity.ts), for a caller authenticated by its TLS client certificate. */
  identity?: Record<string, string>;
  /** Bound on reaching a peer (TCP and the peer's HTTP/2 SETTINGS; default 5 s). */
  connectTimeoutMs?: number;
  /** HTTP/2 stream window toward the peer (default 8 MiB, as src/server/transport.ts serves). */
  streamWindowBytes?: number;
  /** HTTP/2 connection window toward the peer (default 32 MiB). */
  sessionWindowBytes?: number;
}

// Hop-by-hop (RFC 9110 §7.6.1 and HTTP/2's forbidden connection headers), what names this hop
// (host → :authority), what the forwarding agent decides for itself (origin: its CORS check
// already ran) and every podfiles-forwarded-* / podfiles-agent-* a caller may have sent.
const DROPPED = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "expect", "http2-settings", "origin"]);
const isOurs = (name: string) => name.startsWith("podfiles-forwarded-") || name.startsWith("podfiles-agent-");

/** The request headers sent to the peer. */
export function forwardedHeaders(req: NodeRequest, o: ForwardCallOptions, startedAt: number): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name.startsWith(":") || DROPPED.has(name) || isOurs(name)) continue;
    if (name === "te" && value !== "trailers") continue;
    out[name] = value;
  }
  const h2 = req as http2.Http2ServerRequest;
  out[":method"] = req.method ?? "POST";
  out[":path"] = req.url ?? "/";
  out[":scheme"] = "http";
  // the caller's own authority: the peer's Host check (without auth, a guard against DNS rebinding) judges what the caller sent
  out[":authority"] = (h2.authority || req.headers.host || "localhost") as string;
  const spent = Math.max(0, Math.round(performance.now() - startedAt));
  const grpcTimeout = reduceGrpcTimeout(req.headers["grpc-timeout"], spent);
  if (grpcTimeout) out["grpc-timeout"] = grpcTimeout;
  const connectTimeout = reduceMs(req.headers["connect-timeout-ms"], spent);
  if (connectTimeout) out["connect-timeout-ms"] = connectTimeout;
  out[FORWARDED_BY] = o.self;
  out[FORWARDED_FOR] = req.socket?.remoteAddress ?? "";
  const credential = o.agentCredential?.();
  if (credential) out[AGENT_AUTHORIZATION] = credential;
  // after the caller's own headers were filtered: a caller's podfiles-forwarded-user never gets through
  if (o.identity) Object.assign(out, o.identity);
  return out;
}

const GRPC_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** A grpc-timeout less the milliseconds already spent on this hop (at least 1 ms; malformed values pass unchanged for the peer to refuse). */
export function reduceGrpcTimeout(value: string | string[] | undefined, spentMs: number): string | undefined {
  if (typeof value !== "string") return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return value;
  const ms = Number(m[1]) * GRPC_UNITS[m[2]!]!;
  if (spentMs === 0 || ms < 1) return value;
  return `${Math.max(1, Math.floor(ms - spentMs))}m`;
}

function reduceMs(value: string | string[] | undefined, spentMs: number): string | undefined {
  if (typeof value !== "string") return undefined;
  if (!/^\d{1,10}$/.test(value)) return value;
  return String(Math.max(1, Number(value) - spentMs));
}

/** One HTTP/2 session per peer address, opened on first use and dropped when it fails or closes. */
export class PeerSessions {
  private readonly sessions = new Map<string, { session: Promise<http2.ClientHttp2Session>; lastUsed: number }>();
  private closed = false;

  constructor(private readonly o: ForwardCallOptions = { self: "" }) {}

  /** A connected session to the peer; UNAVAILABLE naming node and address when it cannot be reached in time. */
  async get(peer: Peer): Promise<http2.ClientHttp2Session> {
    if (this.closed) throw unavailable("this agent is shutting down");
    const entry = this.sessions.get(peer.address);
    if (entry) {
      const session = await entry.session.catch(() => undefined);
      const idle = performance.now() - entry.lastUsed;
      entry.lastUsed = performance.now();
      // a session idle for a while may sit on a dead TCP connection (the peer node went away): ping it first
      if (session && !session.closed && !session.destroyed && (idle < 10_000 || (await this.alive(session)))) return session;
      if (this.sessions.get(peer.address) === entry) this.sessions.delete(peer.address);
      session?.destroy();
    }
    const session = this.connect(peer);
    const fresh = { session, lastUsed: performance.now() };
    this.sessions.set(peer.address, fresh);
    session.catch(() => {
      if (this.sessions.get(peer.address) === fresh) this.sessions.delete(peer.address);
    });
    return session;
  }

  close(): void {
    this.closed = true;
    for (const { session } of this.sessions.values())
      session.then(
        (s) => s.close(),
        () => undefined,
      );
    this.sessions.clear();
  }

  private alive(session: http2.ClientHttp2Session): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), this.o.connectTimeoutMs ?? 5000);
      const sent = session.ping((err) => {
        clearTimeout(timer);
        resolve(!err);
      });
      if (!sent) {
        clearTimeout(timer);
        resolve(false);
      }
    });
  }

  private connect(peer: Peer): Promise<http2.ClientHttp2Session> {
    const timeoutMs = this.o.connectTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const session = http2.connect(`http://${peer.address}`, {
        settings: { initialWindowSize: this.o.streamWindowBytes ?? 8 * 1024 * 1024, maxFrameSize: 1024 * 1024 - 1 },
      });
      const fail = (why: string, cause?: unknown) => {
        clearTimeout(timer);
        session.destroy();
        reject(unavailable(`cannot reach the podfiles agent on node ${peer.node} at ${peer.address}: ${why}`, cause));
      };
      const timer = setTimeout(() => fail(`no connection within ${timeoutMs} ms`), timeoutMs);
      session.once("error", (err) => fail(err.message, err));
      // 'connect' means TCP only: an agent that accepts and then says nothing (hung) would hold every call; its SETTINGS frame is the answer
      session.once("remoteSettings", () => {
        clearTimeout(timer);
        session.removeAllListeners("error");
        session.on("error", () => session.destroy());
        session.setLocalWindowSize(this.o.sessionWindowBytes ?? 32 * 1024 * 1024);
        // an idle pooled session must not keep the process alive
        session.unref();
        resolve(session);
      });
    });
  }
}

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** Response headers relayed to the caller (pseudo and hop-by-hop ones are the transport's own). */
function relayedHeaders(headers: http2.IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":") || DROPPED.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/**
 * Forwards the call. Rejects (UNAVAILABLE) only when the peer cannot be reached; the request is
 * then untouched and can still be answered here. Resolves when the call has ended either way.
 */
export async function forwardCall(
  req: NodeRequest,
  res: NodeResponse,
  peer: Peer,
  sessions: PeerSessions,
  o: ForwardCallOptions,
  startedAt = performance.now(),
): Promise<void> {
  const session = await sessions.get(peer);
  // nothing of the body has been read yet: if the caller already left there is nothing to do
  if (req.destroyed || res.destroyed) return;
  let upstream: http2.ClientHttp2Stream;
  try {
    upstream = session.request(forwardedHeaders(req, o, startedAt), { endStream: false });
  } catch (err) {
    throw unavailable(`cannot open a stream to the podfiles agent on node ${peer.node} at ${peer.address}: ${(err as Error).message}`, err);
  }
  const callerStream = (res as http2.Http2ServerResponse).stream as http2.ServerHttp2Stream | undefined;

  await new Promise<void>((resolve) => {
    let responded = false;
    let finished = false;
    const done = () => {
      finished = true;
      resolve();
    };
    upstream.on("response", (headers, flags) => {
      responded = true;
      const status = Number(headers[":status"] ?? 502);
      const relayed = relayedHeaders(headers);
      if (callerStream && flags & NGHTTP2_FLAG_END_STREAM) {
        // trailers-only (a gRPC status without messages): one HEADERS frame with END_STREAM, as the peer sent it
        const early: Record<string, string> = {};
        const h2res = res as http2.Http2ServerResponse;
        for (const [k, v] of Object.entries(h2res.getHeaders())) if (v !== undefined) early[k] = String(v);
        if (!callerStream.destroyed && !callerStream.headersSent) callerStream.respond({ ...early, ...relayed, ":status": status }, { endStream: true });
        return;
      }
      res.writeHead(status, relayed);
      upstream.pipe(res as NodeJS.WritableStream);
    });
    upstream.on("trailers", (trailers) => {
      // gRPC's status; gRPC-Web and Connect carry theirs in the body
      if (callerStream) (res as http2.Http2ServerResponse).addTrailers(relayedHeaders(trailers));
    });
    upstream.on("error", () => undefined); // its 'close' decides what the caller sees
    upstream.on("close", () => {
      req.unpipe(upstream);
      const code = upstream.rstCode ?? NGHTTP2_NO_ERROR;
      const complete = upstream.readableEnded || (responded && !!callerStream?.endAfterHeaders) || res.writableEnded;
      if (!complete && !res.writableEnded) {
        // the peer reset the stream or went away mid-call: the caller's stream is reset too (Connect and gRPC clients read the code)
        if (callerStream) {
          if (!callerStream.destroyed) callerStream.close(code === NGHTTP2_NO_ERROR ? NGHTTP2_INTERNAL_ERROR : code);
        } else res.destroy();
      }
      // a body the caller is still sending after the answer is read out and dropped (as connect-node's own early answers leave it)
      if (!bodyDone(req)) req.resume();
      done();
    });
    // the caller's response closed before the peer's whole answer went through it: the caller left, so
    // the peer's stream is cancelled, which ends its handler (and frees its file). Judged by the
    // upstream, not by res.writableFinished / 'finish': a reset HTTP/2 caller stream reports both
    // (seen: 1 cancel in 3 left the peer's file open)
    res.once("close", () => {
      if (!finished && !upstream.destroyed && !upstream.readableEnded) upstream.close(NGHTTP2_CANCEL);
    });
    req.pipe(upstream);
  });
}

function bodyDone(req: NodeRequest): boolean {
  const stream = (req as http2.Http2ServerRequest).stream;
  if (stream) return stream.readableEnded || stream.destroyed;
  return (req as http.IncomingMessage).complete;
}
