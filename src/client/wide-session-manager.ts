// HTTP/2 flow-control windows are the biggest single throughput lever (×2.5–3.6
// measured here). connect-node's client sets only what nodeOptions carries (the
// stream window); the connection window stays at nghttp2's 64 KiB unless someone
// calls setLocalWindowSize on the session. Every client the project ships uses this.
import type * as http2 from "node:http2";
import { Http2SessionManager } from "@connectrpc/connect-node";

export const STREAM_WINDOW_BYTES = 8 * 1024 * 1024;
export const SESSION_WINDOW_BYTES = 32 * 1024 * 1024;

/** nodeOptions for connect-node transports: the large stream window. */
export const wideNodeOptions = { settings: { initialWindowSize: STREAM_WINDOW_BYTES } };

/** Sets the connection window on each new session. */
export class WideSessionManager extends Http2SessionManager {
  private readonly widened = new WeakSet<http2.ClientHttp2Session>();

  constructor(url: string | URL, nodeOptions: http2.ClientSessionOptions | http2.SecureClientSessionOptions = wideNodeOptions) {
    super(url, {}, nodeOptions);
  }

  override async request(...args: Parameters<Http2SessionManager["request"]>): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(...args);
    const session = stream.session as http2.ClientHttp2Session | undefined;
    if (session && !this.widened.has(session)) {
      this.widened.add(session);
      try {
        session.setLocalWindowSize(SESSION_WINDOW_BYTES);
      } catch {
        // session already closing: nothing to widen
      }
    }
    return stream;
  }
}
