// One TCP connection to a pod's port through the API server (pods/portforward), as a Node Duplex
// that http2.connect({ createConnection }) can run a session on.
//
// The protocol is the WebSocket one of the kubelet's port-forward (`v4.channel.k8s.io`, what
// @kubernetes/client-node's PortForward speaks; from Kubernetes 1.31 the API server translates it
// into SPDY for the kubelet, portforward-spdy.ts): every binary message starts with a channel byte — 0 data, 1 error for
// the first (only) port — and the first message on each channel carries the port number (2 bytes,
// little-endian) before any payload. The client writes data as [0, …bytes]. There is no half-close:
// the connection ends when the WebSocket closes.
//
// Backpressure both ways (client-node's PortForward has none: its process reached 160 MB with 3
// downloads, ../shared/PRIOR-ART.md): when the Duplex's reader stops pulling (push() returns false)
// the WebSocket's socket is paused, so TCP, the API server and the kubelet slow the sender down; a
// write completes at once while the WebSocket holds less than WRITE_HIGH_WATER bytes unsent, and
// otherwise only when the message is flushed to the socket.
import type WebSocket from "ws";
import { TunnelDuplex, type TunnelOptions, WRITE_HIGH_WATER, appendErrorText, tunnelError, upgradeRefusal } from "./tunnel-duplex.js";

export const PORT_FORWARD_PROTOCOL = "v4.channel.k8s.io";

const DATA = 0;
const ERROR = 1;

export class PortForwardSocket extends TunnelDuplex {
  private ws?: WebSocket;
  private readonly opened: Promise<WebSocket>;
  private portSeen = [false, false];
  private errorText = "";
  private closedByUs = false;

  constructor(
    open: Promise<WebSocket>,
    private readonly o: TunnelOptions,
  ) {
    super(o.readHighWaterMark);
    this.opened = open.then(
      (ws) => {
        if (this.destroyed) {
          ws.terminate();
          throw tunnelError(`${o.describe}: closed before the tunnel opened`);
        }
        this.attach(ws);
        return ws;
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        this.destroy(Object.assign(e, { code: (e as NodeJS.ErrnoException).code ?? "ECONNREFUSED" }));
        throw e;
      },
    );
    this.opened.catch(() => undefined);
  }

  /** Settles once the WebSocket is open (rejects if it never opens). */
  ready(): Promise<void> {
    return this.opened.then(() => undefined);
  }

  private attach(ws: WebSocket): void {
    this.ws = ws;
    ws.binaryType = "nodebuffer";
    ws.removeAllListeners("message");
    const early = (ws as WebSocket & { early?: [Buffer, boolean][] }).early ?? [];
    for (const [data, isBinary] of early.splice(0)) this.onMessage(isBinary ? data : Buffer.from(data));
    ws.on("message", (data: Buffer, isBinary: boolean) => this.onMessage(isBinary ? data : Buffer.from(data)));
    ws.on("error", (err) => this.destroy(tunnelError(`${this.o.describe}: ${err.message}`)));
    ws.on("close", (code: number, reason: Buffer) => {
      if (this.closedByUs || this.destroyed) return;
      const why = this.errorText || reason.toString() || `WebSocket closed with code ${code}`;
      // no half-close in this protocol: a close is the end of the connection. Data already pushed is
      // still read; a reader waiting for more gets this error (the session's calls fail UNAVAILABLE).
      this.destroy(tunnelError(`the tunnel to ${this.o.describe} closed: ${why}`));
    });
    if (this.readsPaused) ws.pause();
  }

  private onMessage(msg: Buffer): void {
    if (msg.length === 0) return;
    const channel = msg[0]!;
    let payload = msg.subarray(1);
    if (channel === DATA || channel === ERROR) {
      if (!this.portSeen[channel]) {
        if (payload.length < 2) return this.fail(`${this.o.describe}: bad port-forward preamble on channel ${channel}`);
        this.portSeen[channel] = true;
        payload = payload.subarray(2);
      }
      if (payload.length === 0) return;
    }
    if (channel === DATA) {
      this.deliver(payload);
    } else if (channel === ERROR) {
      // the kubelet's words for a failed connection ("failed to connect to localhost:8080 … connection refused")
      this.errorText = appendErrorText(this.errorText, payload);
      this.fail(`the tunnel to ${this.o.describe} failed: ${this.errorText.trim()}`, "ECONNREFUSED");
    } else {
      this.fail(`${this.o.describe}: message on unknown port-forward channel ${channel}`);
    }
  }

  private fail(message: string, code: "ECONNRESET" | "ECONNREFUSED" = "ECONNRESET"): void {
    this.destroy(tunnelError(message, code));
  }

  protected pauseTransport(paused: boolean): void {
    if (paused) this.ws?.pause();
    else this.ws?.resume();
  }

  protected send(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    const ws = this.ws;
    if (!ws) {
      this.opened.then(
        () => this.send(chunks, cb),
        (err: Error) => cb(err),
      );
      return;
    }
    let length = 1;
    for (const c of chunks) length += c.length;
    // one message: the channel byte and the chunks (http2 writes many small frames; _writev batches them)
    const msg = Buffer.allocUnsafe(length);
    msg[0] = DATA;
    let at = 1;
    for (const c of chunks) at += c.copy(msg, at);
    this.bytesOut += length - 1;
    let done = false;
    const finish = (err?: Error | null) => {
      if (done) return;
      done = true;
      cb(err ? tunnelError(`${this.o.describe}: ${err.message}`) : null);
    };
    ws.send(msg, { binary: true }, (err) => finish(err));
    if (ws.bufferedAmount <= WRITE_HIGH_WATER) finish();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.closedByUs = true;
    const ws = this.ws;
    if (ws) {
      ws.removeAllListeners("message");
      ws.on("error", () => undefined);
      if (ws.readyState === ws.OPEN) ws.close(1000);
      else ws.terminate();
      // a peer that never answers the close handshake
      setTimeout(() => ws.terminate(), 2000).unref();
    }
    cb(err);
  }
}

/**
 * Opens a port-forward WebSocket: resolves once open; rejects with the API server's answer when
 * the upgrade is refused (403 without pods/portforward, 404 for a pod that is gone), as an error
 * carrying the HTTP status (`status`) and the Status message.
 */
export async function openPortForwardWebSocket(url: string, options: WebSocket.ClientOptions): Promise<WebSocket> {
  const { default: WS } = await import("ws");
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WS(url, [PORT_FORWARD_PROTOCOL], { perMessageDeflate: false, ...options });
    // messages can arrive before the PortForwardSocket attaches (the preamble follows the upgrade
    // response at once): queue them
    const early: [Buffer, boolean][] = [];
    ws.on("message", (data: Buffer, isBinary: boolean) => early.push([data, isBinary]));
    (ws as WebSocket & { early?: typeof early }).early = early;
    ws.once("open", () => {
      ws.removeAllListeners("error");
      resolve(ws);
    });
    ws.once("error", (err) => reject(tunnelError(err.message, "ECONNREFUSED")));
    ws.once("unexpected-response", (_req, res) => {
      void upgradeRefusal(res).then((err) => {
        ws.terminate();
        reject(err);
      });
    });
  });
}
