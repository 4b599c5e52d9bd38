// A STAND-IN for the API server's pods/portforward endpoint over SPDY, for the framing and
// backpressure unit specs of src/client/portforward-spdy.ts only (the real API server and kubelet
// are exercised by test/e2e/kubeconfig.spec.ts): an HTTP server on loopback that switches to SPDY/3
// as the kubelet does (101 naming portforward.k8s.io), parses the client's frames, inflates its
// header blocks with node:zlib (one zlib stream across frames, as SPDY asks), answers each
// SYN_STREAM with a SYN_REPLY and hands the data stream to the test. It writes frames the way
// spdystream does: an 8-byte header, then the payload.
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import zlib from "node:zlib";

export interface SpdyStream {
  id: number;
  headers: Record<string, string>;
}

export interface SpdyConnection {
  socket: Socket;
  /** streams the client opened, in order */
  streams: SpdyStream[];
  /** data the client sent on the data stream, and frames per stream id */
  received: Buffer[];
  /** PING ids the client echoed */
  pongs: number[];
  /** raw client header-block bytes so far (their zlib stream, for the inflate check) */
  headerBytes: Buffer[];
  sendData(streamId: number, data: Buffer, fin?: boolean): boolean;
  sendPing(id: number): void;
  sendReply(streamId: number): void;
}

export interface SpdyStandInOptions {
  /** answer the upgrade with this status and a Status body instead of switching */
  refuse?: { status: number; message: string };
  /** delay before the SYN_REPLYs (ms) */
  replyDelayMs?: number;
  /** called once both streams are open (replied) */
  onOpen?: (c: SpdyConnection) => void;
  /** data bytes from the client, as they come */
  onData?: (c: SpdyConnection, data: Buffer) => void;
}

export interface SpdyStandIn {
  url: URL;
  connections: SpdyConnection[];
  close(): Promise<void>;
}

function frameHeader(first: number, flagsAndLength: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(first >>> 0, 0);
  h.writeUInt32BE(flagsAndLength >>> 0, 4);
  return h;
}

export async function startSpdyStandIn(o: SpdyStandInOptions = {}): Promise<SpdyStandIn> {
  const connections: SpdyConnection[] = [];
  const sockets = new Set<Socket>();
  // the server's own header blocks: one deflate stream, sync-flushed per frame (their content is never read by the client)
  const server: Server = createServer((_req, res) => {
    res.writeHead(400);
    res.end("upgrade required");
  });
  server.on("upgrade", (req, socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    if (o.refuse) {
      const body = JSON.stringify({ kind: "Status", message: o.refuse.message, code: o.refuse.status });
      socket.end(`HTTP/1.1 ${o.refuse.status} Refused\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    if (req.headers.upgrade !== "SPDY/3.1" || req.headers["x-stream-protocol-version"] !== "portforward.k8s.io" || req.method !== "POST") {
      socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    socket.write("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n");
    const c: SpdyConnection = {
      socket,
      streams: [],
      received: [],
      pongs: [],
      headerBytes: [],
      sendData: (streamId, data, fin = false) => {
        const ok = socket.write(frameHeader(streamId & 0x7fffffff, ((fin ? 1 : 0) << 24) | data.length));
        return socket.write(data) && ok;
      },
      sendPing: (id) => {
        const f = Buffer.concat([frameHeader(0x80030006, 4), Buffer.alloc(4)]);
        f.writeUInt32BE(id, 8);
        socket.write(f);
      },
      sendReply: (streamId) => {
        // an empty name/value block, stored uncompressed in the stand-in's own zlib stream
        const block = Buffer.from([0, 0, 0, 0]);
        const z = Buffer.concat([
          zlibStarted ? Buffer.alloc(0) : Buffer.from([0x78, 0x01]),
          Buffer.from([0, 4, 0, 0xfb, 0xff]),
          block,
          Buffer.from([0, 0, 0, 0xff, 0xff]),
        ]);
        zlibStarted = true;
        const body = Buffer.alloc(4);
        body.writeUInt32BE(streamId);
        socket.write(Buffer.concat([frameHeader(0x80030002, 4 + z.length), body, z]));
      },
    };
    connections.push(c);
    let zlibStarted = false;
    let inbox = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => {
      inbox = Buffer.concat([inbox, chunk]);
      while (inbox.length >= 8) {
        const length = inbox.readUInt32BE(4) & 0xffffff;
        if (inbox.length < 8 + length) return;
        const first = inbox.readUInt32BE(0);
        const flags = inbox[4]!;
        const body = inbox.subarray(8, 8 + length);
        inbox = inbox.subarray(8 + length);
        if (first & 0x80000000) {
          const type = first & 0xffff;
          if (type === 1) {
            const id = body.readUInt32BE(0) & 0x7fffffff;
            c.headerBytes.push(Buffer.from(body.subarray(10)));
            // every header block so far, inflated as one stream: the last block's fields are at the end
            const raw = zlib.inflateSync(Buffer.concat(c.headerBytes), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
            const blocks = parseBlocks(raw);
            c.streams.push({ id, headers: blocks[blocks.length - 1]! });
            if (c.streams.length === 2) {
              const reply = () => {
                for (const s of c.streams) c.sendReply(s.id);
                o.onOpen?.(c);
              };
              if (o.replyDelayMs) setTimeout(reply, o.replyDelayMs);
              else reply();
            }
          } else if (type === 6) {
            c.pongs.push(body.readUInt32BE(0));
          }
        } else {
          const id = first & 0x7fffffff;
          if (id === 3 && body.length > 0) {
            c.received.push(Buffer.from(body));
            o.onData?.(c, Buffer.from(body));
          }
          void flags;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/namespaces/podfiles/pods/agent/portforward?ports=8080`),
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** SPDY/3 name/value blocks, one after the other. */
function parseBlocks(raw: Buffer): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let at = 0;
  while (at < raw.length) {
    const n = raw.readUInt32BE(at);
    at += 4;
    const fields: Record<string, string> = {};
    for (let i = 0; i < n; i++) {
      const nl = raw.readUInt32BE(at);
      const name = raw.subarray(at + 4, at + 4 + nl).toString("latin1");
      at += 4 + nl;
      const vl = raw.readUInt32BE(at);
      fields[name] = raw.subarray(at + 4, at + 4 + vl).toString("latin1");
      at += 4 + vl;
    }
    out.push(fields);
  }
  return out;
}
