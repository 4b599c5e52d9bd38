// The source address of a call, from the HTTP connection (not from headers:
// X-Forwarded-For is not trusted). Used by the Basic-login back-off and the
// audit log. The server puts the Node request into the context values
// (src/handlers/request-state.ts); the address is read from its socket.
import type { ContextValues } from "@connectrpc/connect";
import { nodeRequestKey } from "../handlers/request-state.js";

export function peerOf(values: ContextValues): string {
  const req = values.get(nodeRequestKey);
  return req?.socket?.remoteAddress ?? "";
}
