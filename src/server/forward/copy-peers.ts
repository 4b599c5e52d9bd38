// Copy's way to another agent (src/handlers/copy-destination.ts uses it): when a Copy's
// destination runs on another node, the source's agent opens calls to the agent there, marked as
// forwarded (that agent serves them itself and never forwards them on) with this agent's own
// credential, and carrying the CALLER: its Authorization header as it came, or the identity this
// agent authenticated (a TLS client certificate cannot travel; asserted as forwarding asserts
// it). The destination's agent so authorizes the write for the caller, not for this agent.
// One HTTP/2 session per peer, shared by every Copy to it.
import { createClient, type HandlerContext, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { FileService } from "../../../gen/ts/podfiles/v1/files_pb.js";
import type { CopyPeers } from "../../handlers/deps.js";
import { peerOf } from "../request-state.js";
import { AGENT_AUTHORIZATION, FORWARDED_BY, FORWARDED_FOR } from "./forward-call.js";
import type { ForwardOptions } from "./forward-route.js";

/** Upload messages toward the peer: up to 1 MiB of data each (copy.ts reads 1 MiB chunks) beside the header. */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface CopyPeersOptions extends Pick<ForwardOptions, "self" | "locate" | "agentCredential" | "callerCredentials"> {}

export function copyPeers(o: CopyPeersOptions): CopyPeers & { close(): void } {
  const sessions = new Map<string, Http2SessionManager>();
  return {
    async clientFor(name, ctx) {
      const peer = await o.locate(name);
      if (!peer) return undefined;
      let session = sessions.get(peer.address);
      if (!session) {
        session = new Http2SessionManager(`http://${peer.address}`, { idleConnectionTimeoutMs: 60_000 });
        sessions.set(peer.address, session);
      }
      const headers: Record<string, string> = { ...callerHeaders(ctx, o.callerCredentials), [FORWARDED_BY]: o.self, [FORWARDED_FOR]: peerOf(ctx.values) };
      const credential = o.agentCredential?.();
      if (credential) headers[AGENT_AUTHORIZATION] = credential;
      const withHeaders: Interceptor = (next) => (req) => {
        for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
        return next(req);
      };
      const transport = createGrpcTransport({
        baseUrl: `http://${peer.address}`,
        sessionManager: session,
        interceptors: [withHeaders],
        readMaxBytes: MAX_MESSAGE_BYTES,
        writeMaxBytes: MAX_MESSAGE_BYTES,
      });
      return createClient(FileService, transport);
    },
    close() {
      for (const s of sessions.values()) s.abort();
      sessions.clear();
    },
  };
}

/** The caller as the peer must see it: its own Authorization header, else what callerCredentials (auth) says. */
function callerHeaders(ctx: HandlerContext, credentials: CopyPeersOptions["callerCredentials"]): Record<string, string> {
  const authorization = ctx.requestHeader.get("authorization");
  if (authorization) return { authorization };
  return credentials?.(ctx) ?? {};
}
