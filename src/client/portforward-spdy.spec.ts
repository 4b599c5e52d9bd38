// SpdyPortForwardSocket against the STAND-IN SPDY port-forward endpoint of test/support/spdy-standin.ts
// (an HTTP upgrade on loopback, frames parsed and header blocks inflated with node:zlib): the
// streams the kubelet expects, no data before its replies, frames split anywhere, the error stream,
// pings, a refused upgrade, an HTTP/2 session through it, and backpressure. The real API server and
// kubelet: test/e2e/kubeconfig.spec.ts.
import { createHash, randomBytes } from "node:crypto";
import http2 from "node:http2";
import { afterEach, describe, expect, it } from "vitest";
import { startSpdyStandIn, type SpdyStandIn, type SpdyStandInOptions } from "../../test/support/spdy-standin.js";
import { SpdyPortForwardSocket, openPortForwardSpdy } from "./portforward-spdy.js";

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function standIn(o: SpdyStandInOptions = {}): Promise<SpdyStandIn> {
  const s = await startSpdyStandIn(o);
  cleanups.push(() => s.close());
  return s;
}
function socketTo(s: SpdyStandIn, readHighWaterMark?: number): SpdyPortForwardSocket {
  const sock = new SpdyPortForwardSocket(openPortForwardSpdy(s.url, 8080, {}), { describe: "agent pod podfiles/agent on node a", readHighWaterMark });
  sock.on("error", () => undefined);
  cleanups.push(() => sock.destroy());
  return sock;
}
const errorOf = (sock: SpdyPortForwardSocket) => new Promise<NodeJS.ErrnoException>((resolve) => sock.once("error", resolve));

describe("SpdyPortForwardSocket (stand-in SPDY port-forward endpoint)", () => {
  it("opens the error stream and the data stream the kubelet pairs (valid zlib header blocks across frames), then carries bytes both ways", async () => {
    const s = await standIn({ onData: (c, d) => c.sendData(3, Buffer.concat([Buffer.from("pong:"), d])) });
    const sock = socketTo(s);
    await sock.ready();
    const c = s.connections[0]!;
    expect(c.streams).toEqual([
      { id: 1, headers: { streamtype: "error", port: "8080", requestid: "0" } },
      { id: 3, headers: { streamtype: "data", port: "8080", requestid: "0" } },
    ]);
    sock.write("ping");
    const reply = (await new Promise((resolve) => sock.once("data", resolve))) as Buffer;
    expect(reply.toString()).toBe("pong:ping");
  });

  it("writes made before the kubelet's replies wait for them (spdystream drops data on a stream it has not replied to)", async () => {
    let openedAt = 0;
    const firstDataAt: number[] = [];
    const s = await standIn({
      replyDelayMs: 300,
      onOpen: () => (openedAt = Date.now()),
      onData: () => firstDataAt.push(Date.now()),
    });
    const sock = socketTo(s);
    // once the streams are open on the wire and their replies are still to come
    for (let i = 0; i < 100 && (s.connections[0]?.streams.length ?? 0) < 2; i++) await sleep(5);
    expect(s.connections[0]!.streams.length).toBe(2);
    sock.write("early");
    await sock.ready();
    await sleep(100);
    expect(firstDataAt.length).toBe(1);
    expect(firstDataAt[0]!).toBeGreaterThanOrEqual(openedAt);
    expect(Buffer.concat(s.connections[0]!.received).toString()).toBe("early");
  });

  it("reassembles data frames split anywhere across TCP reads (8 MiB, one byte at a time for the first frames)", async () => {
    const payload = randomBytes(8 * MiB);
    const s = await standIn({
      onOpen: (c) => {
        // frames of 1 to 64 KiB; the first few written a byte at a time
        const frames: Buffer[] = [];
        for (let at = 0; at < payload.length; ) {
          const n = Math.min(payload.length - at, 1 + ((at * 7919) % 65536));
          frames.push(payload.subarray(at, at + n));
          at += n;
        }
        let i = 0;
        for (; i < 3; i++) {
          const f = Buffer.concat([
            Buffer.from([0, 0, 0, 3, 0, frames[i]!.length >> 16, (frames[i]!.length >> 8) & 0xff, frames[i]!.length & 0xff]),
            frames[i]!,
          ]);
          for (const b of f) c.socket.write(Buffer.from([b]));
        }
        for (; i < frames.length; i++) c.sendData(3, frames[i]!);
      },
    });
    const sock = socketTo(s);
    const got: Buffer[] = [];
    let n = 0;
    await new Promise<void>((resolve) =>
      sock.on("data", (d: Buffer) => {
        got.push(d);
        n += d.length;
        if (n >= payload.length) resolve();
      }),
    );
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    expect(sock.bytesIn).toBe(payload.length);
  });

  it("fails with the kubelet's words from the error stream (ECONNREFUSED: the SDK says UNAVAILABLE)", async () => {
    const s = await standIn({
      onOpen: (c) => c.sendData(1, Buffer.from("error forwarding port 8080 to pod abc: failed to connect to localhost:8080: connection refused"), true),
    });
    const sock = socketTo(s);
    const err = await errorOf(sock);
    expect(err.code).toBe("ECONNREFUSED");
    expect(err.message).toContain("agent pod podfiles/agent on node a");
    expect(err.message).toContain("connection refused");
  });

  it("keeps at most a few KiB of the error stream's words (a peer writing megabytes there costs no memory)", async () => {
    const s = await standIn({
      onOpen: (c) => {
        for (let i = 0; i < 64; i++) c.sendData(1, Buffer.alloc(16 * 1024, "x"), false);
        c.sendData(1, Buffer.from("and the end"), true);
      },
    });
    const err = await errorOf(socketTo(s));
    expect(err.code).toBe("ECONNREFUSED");
    expect(err.message.length).toBeLessThan(4 * 1024 + 200);
    expect(err.message).toMatch(/^the tunnel to agent pod podfiles\/agent on node a failed: x+…$/);
  });

  it("echoes the peer's pings", async () => {
    const s = await standIn({ onOpen: (c) => c.sendPing(2) });
    const sock = socketTo(s);
    await sock.ready();
    const c = s.connections[0]!;
    for (let i = 0; i < 50 && c.pongs.length === 0; i++) await sleep(10);
    expect(c.pongs).toEqual([2]);
  });

  it("a refused upgrade rejects with the HTTP status and the Status message", async () => {
    const s = await standIn({ refuse: { status: 403, message: 'pods "agent" is forbidden: cannot create resource "pods/portforward"' } });
    const err = (await openPortForwardSpdy(s.url, 8080, {}).catch((e: unknown) => e)) as Error & { status?: number };
    expect(err.status).toBe(403);
    expect(err.message).toContain('cannot create resource "pods/portforward"');
  });

  it("a data stream the kubelet ends closes the socket with an error naming the tunnel", async () => {
    const s = await standIn({ onOpen: (c) => c.sendData(3, Buffer.alloc(0), true) });
    const sock = socketTo(s);
    const err = await errorOf(sock);
    expect(err.code).toBe("ECONNRESET");
    expect(err.message).toContain("the tunnel to agent pod podfiles/agent on node a closed");
  });

  it("runs an HTTP/2 session (a client of the stand-in relaying to a real http2 server): 16 MiB download byte-exact", async () => {
    const body = randomBytes(16 * MiB);
    const h2 = http2.createServer();
    h2.on("stream", (stream) => {
      stream.respond({ ":status": 200 });
      stream.end(body);
    });
    // the stand-in relays its data stream to the http2 server through an in-process session socket
    const net = await import("node:net");
    await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((r) => h2.close(r)));
    const port = (h2.address() as import("node:net").AddressInfo).port;
    const s = await standIn({
      onOpen: (c) => {
        const target = net.connect(port, "127.0.0.1");
        cleanups.push(() => target.destroy());
        target.on("data", (d: Buffer) => {
          if (!c.sendData(3, d)) {
            target.pause();
            c.socket.once("drain", () => target.resume());
          }
        });
        (c as unknown as { target: import("node:net").Socket }).target = target;
      },
      onData: (c, d) => (c as unknown as { target: import("node:net").Socket }).target.write(d),
    });
    const sock = socketTo(s);
    const session = http2.connect("http://agent", { createConnection: () => sock });
    cleanups.push(() => session.destroy());
    const req = session.request({ ":path": "/" });
    const h = createHash("sha256");
    let n = 0;
    req.on("data", (d: Buffer) => {
      h.update(d);
      n += d.length;
    });
    await new Promise((resolve, reject) => {
      req.on("end", resolve);
      req.on("error", reject);
    });
    expect(n).toBe(body.length);
    expect(h.digest("hex")).toBe(createHash("sha256").update(body).digest("hex"));
  });

  it("a reader that stops pulling pauses the connection: what arrives stays bounded while the kubelet side backs up", async () => {
    let sent = 0;
    let blocked = false;
    const s = await standIn({
      onOpen: (c) => {
        const chunk = Buffer.alloc(64 * 1024, 7);
        const pump = () => {
          while (sent < 256 * MiB) {
            sent += chunk.length;
            if (!c.sendData(3, chunk)) {
              blocked = true;
              c.socket.once("drain", pump);
              return;
            }
          }
        };
        pump();
      },
    });
    const sock = socketTo(s, 1 * MiB);
    await sock.ready();
    sock.pause();
    await sleep(800);
    expect(blocked).toBe(true);
    // the Duplex buffer (1 MiB) plus socket and kernel buffers, nowhere near the 256 MiB on offer
    expect(sock.bytesIn).toBeLessThan(32 * MiB);
    expect(sent).toBeLessThan(64 * MiB);
  });
});
