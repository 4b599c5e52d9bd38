// PortForwardSocket against the STAND-IN port-forward endpoint of test/support/portforward-standin.ts
// (a real `ws` server on loopback speaking the kubelet's channel protocol): framing, the kubelet's
// error channel, closes, an HTTP/2 session through it, and backpressure both ways.
import { randomBytes, createHash } from "node:crypto";
import { createServer as createHttpServer, type Server } from "node:http";
import http2 from "node:http2";
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { WebSocket } from "ws";
import { startPortForwardStandIn, type StandIn } from "../../test/support/portforward-standin.js";
import { PortForwardSocket, openPortForwardWebSocket } from "./portforward-socket.js";
import { WRITE_HIGH_WATER } from "./tunnel-duplex.js";

const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function standIn(target: number | ((ws: WebSocket) => void)): Promise<StandIn> {
  const s = await startPortForwardStandIn(target);
  cleanups.push(() => s.close());
  return s;
}
function socketTo(s: StandIn, readHighWaterMark?: number): PortForwardSocket {
  const sock = new PortForwardSocket(openPortForwardWebSocket(s.url, {}), { describe: "pod podfiles/agent port 8080", readHighWaterMark });
  sock.on("error", () => undefined);
  cleanups.push(() => sock.destroy());
  return sock;
}
const errorOf = (sock: PortForwardSocket) => new Promise<NodeJS.ErrnoException>((resolve) => sock.once("error", resolve));

describe("PortForwardSocket (stand-in port-forward endpoint)", () => {
  it("strips the port preamble of each channel and frames writes on channel 0", async () => {
    const got: Buffer[] = [];
    const s = await standIn((ws) => {
      ws.on("message", (m: Buffer) => {
        got.push(Buffer.from(m));
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from("pong:"), m.subarray(1)]));
      });
    });
    const sock = socketTo(s);
    sock.write("ping");
    const [reply] = (await new Promise((resolve) => sock.once("data", (d) => resolve([d])))) as Buffer[];
    expect(reply!.toString()).toBe("pong:ping");
    expect(got[0]![0]).toBe(0);
    expect(got[0]!.subarray(1).toString()).toBe("ping");
  });

  it("fails with the kubelet's message from the error channel (ECONNREFUSED: the SDK says UNAVAILABLE)", async () => {
    const s = await standIn((ws) =>
      ws.send(Buffer.concat([Buffer.from([1]), Buffer.from("failed to connect to localhost:8080 inside namespace: connection refused")])),
    );
    const sock = socketTo(s);
    const err = await errorOf(sock);
    expect(err.code).toBe("ECONNREFUSED");
    expect(err.message).toContain("pod podfiles/agent port 8080");
    expect(err.message).toContain("connection refused");
  });

  it("keeps at most a few KiB of a long error message", async () => {
    const s = await standIn((ws) => ws.send(Buffer.concat([Buffer.from([1]), Buffer.alloc(1024 * 1024, "x")])));
    const err = await errorOf(socketTo(s));
    expect(err.code).toBe("ECONNREFUSED");
    expect(err.message.length).toBeLessThan(4 * 1024 + 200);
    expect(err.message).toMatch(/failed: x+…$/);
  });

  it("a WebSocket closed by the far side ends the socket with an error naming the tunnel", async () => {
    const s = await standIn((ws) => setTimeout(() => ws.close(1011, "agent gone"), 50));
    const sock = socketTo(s);
    const err = await errorOf(sock);
    expect(err.code).toBe("ECONNRESET");
    expect(err.message).toMatch(/the tunnel to pod podfiles\/agent port 8080 closed: agent gone/);
  });

  it("a refused upgrade rejects with the HTTP status and the Status message", async () => {
    const http = await new Promise<Server>((resolve) => {
      const srv = createHttpServer((_req, res) => {
        res.writeHead(403, { "content-type": "application/json" });
        res.end(JSON.stringify({ kind: "Status", message: 'pods "agent" is forbidden: cannot create resource "pods/portforward"' }));
      });
      srv.listen(0, "127.0.0.1", () => resolve(srv));
    });
    cleanups.push(() => new Promise((r) => http.close(r)));
    const err = (await openPortForwardWebSocket(`ws://127.0.0.1:${(http.address() as net.AddressInfo).port}/x`, {}).catch((e: unknown) => e)) as Error & {
      status: number;
    };
    expect(err.status).toBe(403);
    expect(err.message).toContain('cannot create resource "pods/portforward"');
  });

  it("carries an HTTP/2 session: 32 MiB each way intact", async () => {
    const server = http2.createServer();
    server.on("stream", (stream) => {
      const h = createHash("sha256");
      let n = 0;
      stream.on("data", (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      stream.on("end", () => {
        stream.respond({ ":status": 200, "x-sha": h.digest("hex"), "x-len": String(n) });
        const body = randomBytes(32 * MiB);
        stream.end(body);
        server.emit("sent", createHash("sha256").update(body).digest("hex"));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => server.close(r)));
    const s = await standIn((server.address() as net.AddressInfo).port);
    const session = http2.connect("http://agent", { createConnection: () => socketTo(s) });
    cleanups.push(() => session.destroy());
    const up = randomBytes(32 * MiB);
    const req = session.request({ ":method": "POST", ":path": "/" });
    const sentSha = new Promise<string>((resolve) => server.once("sent", resolve));
    req.end(up);
    const [headers, down] = await Promise.all([
      new Promise<http2.IncomingHttpHeaders>((resolve) => req.once("response", resolve)),
      (async () => {
        const h = createHash("sha256");
        for await (const c of req) h.update(c as Buffer);
        return h.digest("hex");
      })(),
    ]);
    expect(headers["x-len"]).toBe(String(up.length));
    expect(headers["x-sha"]).toBe(createHash("sha256").update(up).digest("hex"));
    expect(down).toBe(await sentSha);
  });

  it("backpressure on reads: a reader that stops pulling stops the sender (bounded bytes in flight)", async () => {
    // a target that sends 256 MiB as fast as its socket takes it
    const total = 256 * MiB;
    let sent = 0;
    const target = net.createServer((c) => {
      const chunk = Buffer.alloc(MiB, 7);
      const pump = () => {
        while (sent < total) {
          sent += chunk.length;
          if (!c.write(chunk)) return void c.once("drain", pump);
        }
        c.end();
      };
      pump();
      c.on("error", () => undefined);
    });
    await new Promise<void>((r) => target.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise((r) => target.close(r)));
    const s = await standIn((target.address() as net.AddressInfo).port);
    const sock = socketTo(s, 1 * MiB);
    await sock.ready();
    // nobody reads for a second
    await sleep(1000);
    const inFlight = sock.bytesIn;
    // the Duplex's 1 MiB plus what the kernel and the stand-in buffer; without pause() all 256 MiB arrive
    expect(inFlight).toBeLessThan(24 * MiB);
    expect(sent).toBeLessThan(64 * MiB);
    // and everything still arrives once it is read
    let got = 0;
    sock.on("data", (d: Buffer) => (got += d.length));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (got >= total) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    expect(got).toBe(total);
  }, 30_000);

  it("backpressure on writes: a far side that stops reading makes write() return false and stay bounded", async () => {
    let serverWs: WebSocket | undefined;
    const s = await standIn((ws) => {
      serverWs = ws;
      ws.pause(); // the API server stops reading from this connection
    });
    const sock = socketTo(s);
    await sock.ready();
    const chunk = Buffer.alloc(64 * 1024, 1);
    let accepted = 0;
    const deadline = Date.now() + 1000;
    while (Date.now() < deadline) {
      if (sock.writableNeedDrain) {
        await Promise.race([new Promise((r) => sock.once("drain", r)), sleep(100)]);
        continue;
      }
      sock.write(chunk);
      accepted += chunk.length;
    }
    // bytes handed to the WebSocket: its high-water mark plus kernel socket buffers, not everything written
    expect(sock.bytesOut).toBeLessThan(WRITE_HIGH_WATER + 16 * MiB);
    expect(sock.writableNeedDrain).toBe(true);
    // the far side reads again: the writes complete
    serverWs!.resume();
    await new Promise((r) => sock.once("drain", r));
    expect(accepted).toBeGreaterThan(0);
  }, 30_000);
});
