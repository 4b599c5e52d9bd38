// Access to the Node request behind a call: for the one question Connect's signal answers too
// late (did the client abort, or finish, its request stream?), for the caller's address, and for
// the TLS client certificate of its connection.
import { createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { TLSSocket } from "node:tls";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

export const nodeRequestKey = createContextKey<NodeRequest | undefined>(undefined, { description: "node request" });

/** For connectNodeAdapter's `contextValues` option. */
export const nodeRequestContext = (req: NodeRequest) => createContextValues().set(nodeRequestKey, req);

/**
 * Call once the request body has ended: true when it ended because the client
 * dropped the connection or reset the stream rather than finishing it.
 */
export function requestBodyAborted(ctx: HandlerContext): boolean {
  if (ctx.signal.aborted) return true;
  const req = ctx.values.get(nodeRequestKey);
  if (!req) return false;
  if (req.aborted) return true;
  const stream = (req as http2.Http2ServerRequest).stream;
  if (stream !== undefined) return (stream.rstCode ?? 0) !== 0;
  return !(req as http.IncomingMessage).complete;
}

const forwardedFor = new WeakMap<NodeRequest, string>();
const verifiedForwarder = new WeakMap<NodeRequest, string>();

/** The caller's address as the forwarding agent saw it: set only once that agent's credential was verified (forward/forward-route.ts). */
export function trustForwardedFor(req: NodeRequest, address: string): void {
  forwardedFor.set(req, address);
}

/** Marks a forwarded call whose agent credential was verified, with the node its hop marker names (forward/forward-route.ts). */
export function trustForwardedBy(req: NodeRequest, node: string): void {
  verifiedForwarder.set(req, node);
}

/**
 * The node of the agent that forwarded this call, when that agent's credential was verified;
 * undefined for every other call (not forwarded, credential missing or invalid, or no check
 * configured). Only then may the call's identity assertion be believed (src/auth/forwarded-identity.ts).
 * The credential proves "one of the agents", not which one: the node is what the hop marker says.
 */
export function forwardedByVerifiedAgent(values: ContextValues): string | undefined {
  const req = values.get(nodeRequestKey);
  return req ? verifiedForwarder.get(req) : undefined;
}

/**
 * The source address of a call, from the HTTP connection (not from headers: X-Forwarded-For is
 * not trusted), or for a call another agent forwarded, the caller's address that agent saw (only
 * when its agent credential was verified). Used by the Basic-login back-off, the audit log and
 * the per-caller upload caps.
 */
export function peerOf(values: ContextValues): string {
  const req = values.get(nodeRequestKey);
  if (!req) return "";
  return forwardedFor.get(req) ?? req.socket?.remoteAddress ?? "";
}

/** The TLS client certificate of a call's connection, as far as the server's handshake checked it. */
export interface PeerCertificate {
  /** Verified against the server's client CA (chain, validity dates, client-auth purpose). */
  authorized: boolean;
  /** Why it did not verify (OpenSSL's code, e.g. CERT_HAS_EXPIRED), when it did not. */
  authorizationError?: string;
  /** Subject attributes; an attribute given more than once is an array (e.g. several O). */
  subject: Record<string, string | string[]>;
}

/**
 * The client certificate the call's TLS connection presented, or undefined (cleartext, or TLS
 * without a certificate). HTTP/1.1: the request's socket; HTTP/2: the session's socket.
 */
export function peerCertificateOf(values: ContextValues): PeerCertificate | undefined {
  const req = values.get(nodeRequestKey);
  return req ? requestPeerCertificate(req) : undefined;
}

/** peerCertificateOf for a Node request before any handler runs (the forward route). */
export function requestPeerCertificate(req: NodeRequest): PeerCertificate | undefined {
  const socket = ((req as http2.Http2ServerRequest).stream?.session?.socket ?? req.socket) as Partial<TLSSocket> | undefined;
  if (typeof socket?.getPeerCertificate !== "function") return undefined;
  const cert = socket.getPeerCertificate();
  // Node returns {} (or null once the socket is gone) when no certificate was sent.
  if (!cert || Object.keys(cert).length === 0) return undefined;
  const authorizationError = socket.authorizationError === undefined || socket.authorizationError === null ? undefined : String(socket.authorizationError);
  return {
    authorized: socket.authorized === true,
    ...(authorizationError ? { authorizationError } : {}),
    subject: (cert.subject ?? {}) as unknown as PeerCertificate["subject"],
  };
}
