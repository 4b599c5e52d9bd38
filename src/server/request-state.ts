// Access to the Node request behind a call: for the one question Connect's signal answers too
// late (did the client abort, or finish, its request stream?), and for the caller's address.
import { createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import type * as http from "node:http";
import type * as http2 from "node:http2";

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

/** The caller's address as the forwarding agent saw it: set only once that agent's credential was verified (forward/forward-route.ts). */
export function trustForwardedFor(req: NodeRequest, address: string): void {
  forwardedFor.set(req, address);
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
