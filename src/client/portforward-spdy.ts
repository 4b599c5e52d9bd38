// One TCP connection to a pod's port through the API server's pods/portforward over SPDY, the
// protocol every API server and kubelet speak (kubectl's own until its PortForwardWebsockets
// feature, beta and on by default from Kubernetes 1.31, and still its fallback): a Node Duplex that
// http2.connect({ createConnection }) can run a session on, like PortForwardSocket for WebSockets.
//
// The wire, as client-go's portforward and the kubelet's moby/spdystream speak it:
// - an HTTP/1.1 POST with `Upgrade: SPDY/3.1` and `X-Stream-Protocol-Version: portforward.k8s.io`;
//   101 Switching Protocols naming that protocol, then SPDY/3 frames on the raw connection;
// - the client opens two streams for the port with the same requestID: the error stream (id 1,
//   closed at once from this side: the kubelet writes its failure text on it) and the data stream
//   (id 3); the data stream's bytes are the pod port's bytes. Data sent before the kubelet's
//   SYN_REPLY is dropped by spdystream, so ready() waits for the replies and writes queue until then;
// - no flow-control windows (spdystream neither sends nor honours WINDOW_UPDATE): backpressure is
//   TCP's, as for kubectl. When the Duplex's reader stops pulling, the connection is paused.
//
// Header blocks: SPDY/3 compresses them with one zlib stream per direction. This side sends two,
// written as zlib stored blocks (a zlib header, then per frame one uncompressed block and the empty
// block that ends a sync flush): valid zlib that Go's reader with SPDY's dictionary
// accepts (the dictionary is only consulted when the stream's header asks for it). The kubelet's
// header blocks are never read: a SYN_REPLY matters by its stream id alone.
//
// Out of scope: more than one port per connection, server push, SPDY/3.1 flow control.
import * as http from "node:http";
import * as https from "node:https";
import type { Socket } from "node:net";
import { TunnelDuplex, type TunnelOptions, appendErrorText, tunnelError, upgradeRefusal } from "./tunnel-duplex.js";

export const SPDY_PORT_FORWARD_PROTOCOL = "portforward.k8s.io";

const CONTROL = 0x80;
const VERSION = 3;
const SYN_STREAM = 1;
const SYN_REPLY = 2;
const RST_STREAM = 3;
const PING = 6;
const GOAWAY = 7;
const FLAG_FIN = 0x01;
const ERROR_STREAM = 1;
const DATA_STREAM = 3;
/** largest DATA frame payload (a 24-bit length) */
const MAX_DATA = 0xffffff;

/** The connection once the API server switched protocols: the socket, any bytes read past the 101, the pod's port. */
export interface SpdyUpgrade {
  socket: Socket;
  head: Buffer;
  port: number;
}

/**
 * POSTs the port-forward upgrade: resolves with the upgraded connection; rejects with the API
 * server's answer when it does not switch (an error carrying the HTTP `status` and the Status
 * message), or when the kubelet chose another protocol.
 */
export function openPortForwardSpdy(url: URL, port: number, options: https.RequestOptions & { headers?: Record<string, string> }): Promise<SpdyUpgrade> {
  return new Promise<SpdyUpgrade>((resolve, reject) => {
    const request = url.protocol === "http:" ? http.request : https.request;
    const req = request(url, {
      ...options,
      // an upgraded connection leaves the pool for good: a connection of its own
      agent: false,
      method: "POST",
      headers: { ...options.headers, Connection: "Upgrade", Upgrade: "SPDY/3.1", "X-Stream-Protocol-Version": SPDY_PORT_FORWARD_PROTOCOL },
      timeout: 30_000,
    });
    req.on("upgrade", (res, socket, head) => {
      const protocol = res.headers["x-stream-protocol-version"];
      if (protocol !== SPDY_PORT_FORWARD_PROTOCOL) {
        socket.destroy();
        return reject(
          Object.assign(new Error(`the server answered the SPDY upgrade with protocol "${protocol ?? ""}", not ${SPDY_PORT_FORWARD_PROTOCOL}`), {
            status: 101,
          }),
        );
      }
      socket.setTimeout(0);
      resolve({ socket, head, port });
    });
    req.on("response", (res) => void upgradeRefusal(res).then(reject));
    req.on("timeout", () => req.destroy(new Error("no answer to the SPDY upgrade within 30 s")));
    req.on("error", (err) => reject(tunnelError(err.message, "ECONNREFUSED")));
    req.end();
  });
}

/** The SPDY/3 name/value block of a port-forward stream, as zlib stored-block bytes (see the header). */
function headerBlock(fields: [string, string][], first: boolean): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n);
    return b;
  };
  parts.push(u32(fields.length));
  for (const [name, value] of fields) {
    const n = Buffer.from(name.toLowerCase(), "latin1");
    const v = Buffer.from(value, "latin1");
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  const raw = Buffer.concat(parts);
  // zlib header (deflate, 32 KiB window, no preset dictionary; 0x7801 % 31 === 0) on the first block only
  const zhead = first ? Buffer.from([0x78, 0x01]) : Buffer.alloc(0);
  // a stored block, not final: BFINAL=0 BTYPE=00, padded to the byte; LEN and its complement, little-endian
  const stored = Buffer.from([0x00, raw.length & 0xff, raw.length >> 8, ~raw.length & 0xff, (~raw.length >> 8) & 0xff]);
  // then the empty stored block a sync flush ends with: Go's inflater hands a block's bytes to its
  // reader when it meets this marker (without it the kubelet read the first frame's headers, then
  // failed on the second with an unexpected EOF and closed the connection)
  const syncMarker = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);
  return Buffer.concat([zhead, stored, raw, syncMarker]);
}

function synStream(streamId: number, block: Buffer): Buffer {
  const f = Buffer.alloc(18 + block.length);
  f[0] = CONTROL;
  f[1] = VERSION;
  f.writeUInt16BE(SYN_STREAM, 2);
  f.writeUInt32BE(10 + block.length, 4); // flags 0, 24-bit length
  f.writeUInt32BE(streamId, 8);
  f.writeUInt32BE(0, 12); // associated-to
  f[16] = 0; // priority
  f[17] = 0; // slot
  block.copy(f, 18);
  return f;
}

function dataHeader(streamId: number, length: number, flags = 0): Buffer {
  const h = Buffer.allocUnsafe(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE(((flags & 0xff) << 24) | length, 4);
  return h;
}

export class SpdyPortForwardSocket extends TunnelDuplex {
  private socket?: Socket;
  private readonly opened: Promise<void>;
  private signalReady!: () => void;
  private failReady!: (err: Error) => void;
  private replied = new Set<number>();
  private inbox: Buffer[] = [];
  private inboxBytes = 0;
  private errorText = "";
  private closedByUs = false;

  constructor(
    open: Promise<SpdyUpgrade>,
    private readonly o: TunnelOptions,
  ) {
    super(o.readHighWaterMark);
    this.opened = new Promise<void>((resolve, reject) => {
      this.signalReady = resolve;
      this.failReady = reject;
    });
    this.opened.catch(() => undefined);
    open.then(
      (up) => {
        if (this.destroyed) {
          up.socket.destroy();
          return this.failReady(tunnelError(`${o.describe}: closed before the tunnel opened`));
        }
        this.attach(up);
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        this.failReady(e);
        this.destroy(Object.assign(e, { code: (e as NodeJS.ErrnoException).code ?? "ECONNREFUSED" }));
      },
    );
  }

  /** Settles once the kubelet replied to both streams (rejects if the tunnel never opens). */
  ready(): Promise<void> {
    return this.opened;
  }

  private attach({ socket, head, port }: SpdyUpgrade): void {
    this.socket = socket;
    socket.setNoDelay(true);
    const fields = (type: string): [string, string][] => [
      ["streamtype", type],
      ["port", String(port)],
      ["requestid", "0"],
    ];
    // the error stream, then an empty DATA frame with FIN (this side never writes on it), then the data stream
    socket.write(synStream(ERROR_STREAM, headerBlock(fields("error"), true)));
    socket.write(dataHeader(ERROR_STREAM, 0, FLAG_FIN));
    socket.write(synStream(DATA_STREAM, headerBlock(fields("data"), false)));
    socket.on("data", (chunk: Buffer) => this.onBytes(chunk));
    socket.on("error", (err) => this.fail(`${this.o.describe}: ${err.message}`));
    socket.on("close", () => this.fail(`the tunnel to ${this.o.describe} closed${this.errorText ? `: ${this.errorText.trim()}` : ""}`));
    if (head.length > 0) this.onBytes(head);
    if (this.readsPaused) socket.pause();
  }

  /** Parses every whole frame received so far. */
  private onBytes(chunk: Buffer): void {
    this.inbox.push(chunk);
    this.inboxBytes += chunk.length;
    while (this.inboxBytes >= 8 && !this.destroyed) {
      const head = this.peekBytes(8);
      const length = head.readUInt32BE(4) & 0xffffff;
      if (this.inboxBytes < 8 + length) return;
      this.skipBytes(8);
      const flags = head[4]!;
      if (head[0]! & CONTROL) this.onControl(head.readUInt16BE(2), flags, this.takeJoined(length));
      else this.onData(head.readUInt32BE(0) & 0x7fffffff, flags, this.takePieces(length));
    }
  }

  private onControl(type: number, flags: number, body: Buffer): void {
    if (type === SYN_REPLY && body.length >= 4) {
      this.replied.add(body.readUInt32BE(0) & 0x7fffffff);
      if (this.replied.has(ERROR_STREAM) && this.replied.has(DATA_STREAM)) this.signalReady();
    } else if (type === RST_STREAM && body.length >= 8) {
      const stream = body.readUInt32BE(0) & 0x7fffffff;
      if (stream === DATA_STREAM || !this.replied.has(DATA_STREAM))
        this.fail(
          `the tunnel to ${this.o.describe} was reset by the kubelet (SPDY status ${body.readUInt32BE(4)})${this.errorText ? `: ${this.errorText.trim()}` : ""}`,
        );
    } else if (type === PING && body.length === 4) {
      // the peer's ping: echoed, as SPDY asks
      const pong = Buffer.alloc(12);
      pong[0] = CONTROL;
      pong[1] = VERSION;
      pong.writeUInt16BE(PING, 2);
      pong.writeUInt32BE(4, 4);
      body.copy(pong, 8);
      this.socket?.write(pong);
    } else if (type === GOAWAY) {
      this.fail(`the tunnel to ${this.o.describe} was closed by the kubelet (GOAWAY)`);
    }
    // SETTINGS, HEADERS, WINDOW_UPDATE: nothing this client acts on
    void flags;
  }

  private onData(stream: number, flags: number, pieces: Buffer[]): void {
    if (stream === ERROR_STREAM) {
      for (const p of pieces) this.errorText = appendErrorText(this.errorText, p);
      // the kubelet's words for a failed connection ("failed to connect to localhost:8080 … connection refused")
      if (flags & FLAG_FIN && this.errorText.trim()) this.fail(`the tunnel to ${this.o.describe} failed: ${this.errorText.trim()}`, "ECONNREFUSED");
      return;
    }
    if (stream !== DATA_STREAM) return;
    for (const p of pieces) this.deliver(p);
    if (flags & FLAG_FIN)
      this.fail(`the tunnel to ${this.o.describe} closed: the agent's end of the connection closed${this.errorText ? ` (${this.errorText.trim()})` : ""}`);
  }

  private peekBytes(n: number): Buffer {
    const first = this.inbox[0]!;
    // every piece holds a byte at least: the first n pieces hold n bytes
    return first.length >= n ? first.subarray(0, n) : Buffer.concat(this.inbox.slice(0, n)).subarray(0, n);
  }

  private skipBytes(n: number): void {
    this.takePieces(n);
  }

  private takeJoined(n: number): Buffer {
    const pieces = this.takePieces(n);
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
  }

  /** The next n bytes as the pieces they arrived in (no copy). */
  private takePieces(n: number): Buffer[] {
    const out: Buffer[] = [];
    this.inboxBytes -= n;
    while (n > 0) {
      const first = this.inbox[0]!;
      if (first.length <= n) {
        out.push(first);
        this.inbox.shift();
        n -= first.length;
      } else {
        out.push(first.subarray(0, n));
        this.inbox[0] = first.subarray(n);
        n = 0;
      }
    }
    return out;
  }

  private fail(message: string, code: "ECONNRESET" | "ECONNREFUSED" = "ECONNRESET"): void {
    if (this.closedByUs || this.destroyed) return;
    const err = tunnelError(message, code);
    this.failReady(err);
    this.destroy(err);
  }

  protected pauseTransport(paused: boolean): void {
    if (paused) this.socket?.pause();
    else this.socket?.resume();
  }

  protected send(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    const socket = this.socket;
    if (!socket || !this.replied.has(DATA_STREAM)) {
      this.opened.then(
        () => this.send(chunks, cb),
        (err: Error) => cb(err),
      );
      return;
    }
    // one DATA frame per batch (http2 writes many small frames; _writev batches them), split only past 16 MiB
    socket.cork();
    let ok = true;
    let frame: Buffer[] = [];
    let frameBytes = 0;
    const flush = () => {
      if (frameBytes === 0) return;
      ok = socket.write(dataHeader(DATA_STREAM, frameBytes)) && ok;
      for (const c of frame) ok = socket.write(c) && ok;
      frame = [];
      frameBytes = 0;
    };
    for (let c of chunks) {
      this.bytesOut += c.length;
      while (c.length > 0) {
        const room = MAX_DATA - frameBytes;
        const piece = c.length <= room ? c : c.subarray(0, room);
        frame.push(piece);
        frameBytes += piece.length;
        c = c.subarray(piece.length);
        if (frameBytes === MAX_DATA) flush();
      }
    }
    flush();
    socket.uncork();
    if (ok) return cb();
    const onDrain = () => {
      socket.off("close", onClose);
      cb();
    };
    const onClose = () => {
      socket.off("drain", onDrain);
      cb(tunnelError(`${this.o.describe}: the connection closed`));
    };
    socket.once("drain", onDrain);
    socket.once("close", onClose);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.closedByUs = true;
    this.failReady(err ?? tunnelError(`${this.o.describe}: closed before the tunnel opened`));
    const socket = this.socket;
    if (socket) {
      socket.removeAllListeners("data");
      socket.on("error", () => undefined);
      socket.destroy();
    }
    cb(err);
  }
}
