// What the two pods/portforward tunnels share (PortForwardSocket over a WebSocket,
// SpdyPortForwardSocket over SPDY): a Duplex that http2.connect({ createConnection }) runs a session
// on. Writes are batched into one send (http2 writes many small frames; _writev hands them over
// together); reads stop at the transport when the Duplex's reader stops pulling (push() returns
// false), so TCP, the API server and the kubelet slow the sender down; there is no half-close (the
// connection ends when the Duplex is destroyed); and the net.Socket calls http2 makes are accepted.
import type { IncomingMessage } from "node:http";
import { Duplex } from "node:stream";

/** Unsent bytes a tunnel may hold before a write waits for its flush. */
export const WRITE_HIGH_WATER = 1024 * 1024;

/** the kubelet writes one line on a tunnel's error stream; past this much the rest is dropped (a peer may write megabytes) */
export const ERROR_TEXT_MAX = 4 * 1024;

/** `text` with `piece` of an error stream appended, at most ERROR_TEXT_MAX characters (then `…`). */
export function appendErrorText(text: string, piece: Buffer): string {
  const room = ERROR_TEXT_MAX - text.length;
  if (room < 0) return text; // cut already
  const added = piece.toString("utf8", 0, Math.min(piece.length, room + 1));
  return added.length > room ? `${text}${added.slice(0, room)}…` : text + added;
}

/** An error of the tunnel: code ECONNRESET / ECONNREFUSED, so the SDK reports it as UNAVAILABLE. */
export function tunnelError(message: string, code: "ECONNRESET" | "ECONNREFUSED" = "ECONNRESET"): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/**
 * The API server's answer to an upgrade it refused (403 without pods/portforward, 404 for a pod that
 * is gone, …), read to its end: an error carrying the HTTP `status` and the Status message.
 */
export function upgradeRefusal(res: IncomingMessage): Promise<Error & { status: number }> {
  return new Promise((resolve) => {
    const body: Buffer[] = [];
    res.on("data", (d: Buffer) => body.push(d));
    res.on("end", () => {
      let message = Buffer.concat(body).toString("utf8").slice(0, 2000);
      try {
        message = (JSON.parse(message) as { message?: string }).message ?? message;
      } catch {
        // not a Status object: keep the text
      }
      resolve(Object.assign(new Error(message || `HTTP ${res.statusCode}`), { status: res.statusCode ?? 0 }));
    });
  });
}

export interface TunnelOptions {
  /** "agent pod podfiles/agent-x on node a", for messages */
  describe: string;
  /** reads buffered in the Duplex before the transport is paused (default 1 MiB) */
  readHighWaterMark?: number;
}

export abstract class TunnelDuplex extends Duplex {
  private transportPaused = false;
  /** bytes of payload received and sent (tests, diagnostics) */
  bytesIn = 0;
  bytesOut = 0;

  /** readHighWaterMark: reads buffered in the Duplex before the transport is paused (default 1 MiB) */
  constructor(readHighWaterMark = 1024 * 1024) {
    super({ readableHighWaterMark: readHighWaterMark, writableHighWaterMark: WRITE_HIGH_WATER, allowHalfOpen: true });
  }

  /** Sends the chunks as one message or frame; cb once the transport took them (or failed). */
  protected abstract send(chunks: Buffer[], cb: (err?: Error | null) => void): void;
  /** Stops (true) or restarts (false) reading from the transport. */
  protected abstract pauseTransport(paused: boolean): void;

  /** Whether reads are paused at the transport now (a transport attached later starts paused then). */
  protected get readsPaused(): boolean {
    return this.transportPaused;
  }

  /** Hands payload to the reader, pausing the transport when the reader has enough. */
  protected deliver(payload: Buffer): void {
    if (payload.length === 0) return;
    this.bytesIn += payload.length;
    if (!this.push(payload) && !this.transportPaused) {
      this.transportPaused = true;
      this.pauseTransport(true);
    }
  }

  override _read(): void {
    if (this.transportPaused) {
      this.transportPaused = false;
      this.pauseTransport(false);
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.send([chunk], cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.send(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    // no half-close in either protocol: the connection ends when the Duplex is destroyed
    cb();
  }

  // net.Socket-like bits http2 touches on the connection it is given
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  setTimeout(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
