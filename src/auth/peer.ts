// The source address of a call, from the HTTP connection (not from headers:
// X-Forwarded-For is not trusted). Used by the Basic-login back-off and the audit log.
import { createContextKey, createContextValues } from "@connectrpc/connect";
import type * as http from "node:http";
import type * as http2 from "node:http2";

export const peerKey = createContextKey<string>("", { description: "podfiles peer address" });

/** For connectNodeAdapter's `contextValues`. */
export function peerContextValues(req: http.IncomingMessage | http2.Http2ServerRequest) {
  const values = createContextValues();
  values.set(peerKey, req.socket?.remoteAddress ?? "");
  return values;
}
