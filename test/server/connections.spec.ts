// Rude callers at the socket level: idle connections, floods from one address, handshakes that
// never finish. The server must time them out and cap them before any auth, and calls from
// everyone else must keep working, even with a process fd limit far below the flood.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { Health } from "../../gen/ts/third_party/health/v1/health_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";

const bin = fileURLToPath(new URL("../../bin/podfiles.js", import.meta.url));
const container = { namespace: "local", pod: "local", container: "local" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Opens n TCP connections from localAddress that send nothing; resolves once all are connected. */
async function openIdle(port: number, n: number, localAddress = "127.0.0.1"): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = Array.from(
      { length: Math.min(50, n - i) },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ port, host: "127.0.0.1", localAddress });
          s.on("error", () => undefined); // a refused or evicted socket is reset: that is the point
          s.once("connect", () => resolve(s));
          s.once("close", () => reject(new Error("closed before connecting")));
        }),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

/** Resolves with the ms it took the server to close the socket, or "open" after waitMs. */
function closedWithin(s: net.Socket, waitMs: number): Promise<number | "open"> {
  const t0 = Date.now();
  if (s.destroyed || s.readableEnded) return Promise.resolve(0);
  s.resume(); // whatever the server sends first (HTTP/2 SETTINGS, a GOAWAY) must not hold back 'end'
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve("open"), waitMs);
    const done = () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    };
    s.once("end", done);
    s.once("close", done);
  });
}

/** Clients whose connections come from `localAddress` (another loopback address than the flood's). */
function clientsFrom(baseUrl: string, localAddress: string) {
  const sessions = new Http2SessionManager(baseUrl, undefined, { localAddress } as http2.ClientSessionOptions);
  const grpc = createGrpcTransport({ baseUrl, sessionManager: sessions });
  const h1 = createConnectTransport({ baseUrl, httpVersion: "1.1", nodeOptions: { localAddress, agent: false } });
  return {
    grpc: createClient(FileService, grpc),
    health: createClient(Health, grpc),
    h1: createClient(FileService, h1),
    close: () => sessions.abort(),
  };
}

/** `podfiles serve` as a child process under `prlimit --nofile=N:N`. */
async function serveWithFdLimit(
  root: string,
  nofile: number,
  args: string[] = [],
): Promise<{ child: ChildProcess; port: number; stderr: () => string; stop: () => Promise<void> }> {
  const child = spawn("prlimit", [`--nofile=${nofile}:${nofile}`, process.execPath, bin, "serve", "--root", root, "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  child.stdout!.resume();
  const port = await new Promise<number>((resolve, reject) => {
    const onData = () => {
      const m = /"msg":"listening".*?"port":(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    };
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`podfiles serve exited with ${code}: ${err}`)));
  });
  return {
    child,
    port,
    stderr: () => err,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

describe("400 idle sockets against a server limited to 256 fds (podfiles serve, child process)", () => {
  let root: string;
  let server: Awaited<ReturnType<typeof serveWithFdLimit>>;
  let idle: net.Socket[] = [];
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "podfiles-conn-"));
    writeFileSync(join(root, "a.txt"), "still here");
    // default caps: derived from the fd limit (256 → at most 128 connections)
    server = await serveWithFdLimit(root, 256);
  });
  afterAll(async () => {
    for (const s of idle) s.destroy();
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("calls from another address still succeed over gRPC (h2) and Connect (HTTP/1.1), reading and writing files", async () => {
    idle = await openIdle(server.port, 400, "127.0.0.1");
    await sleep(300); // let the server accept (and cap) the flood
    // The flood comes from 127.0.0.1 and has used up that address's share; the client binds its
    // source address to 127.0.0.2, another peer, as an honest caller elsewhere would be.
    const c = clientsFrom(`http://127.0.0.1:${server.port}`, "127.0.0.2");
    try {
      expect((await c.health.check({})).status).toBe(1); // SERVING
      expect((await c.grpc.stat({ container, path: "/a.txt" })).entry?.size).toBe(10n);
      expect((await c.h1.stat({ container, path: "/a.txt" })).entry?.size).toBe(10n);
      await c.h1.makeDirectory({ container, path: "/made-under-flood" });
      expect(statSync(join(root, "made-under-flood")).isDirectory()).toBe(true);
    } finally {
      c.close();
    }
    expect(server.child.exitCode).toBeNull();
    expect(server.stderr()).not.toMatch(/EMFILE/);
    // the cap it chose, in its start-up line: half the fd limit, and one address gets half of that
    expect(server.stderr()).toMatch(/"connections":\{"maxConnections":128,"maxConnectionsPerPeer":64,/);
  });

  it("a flood spread over 8 addresses fills the total cap; a new caller still gets in (the oldest silent one makes room)", async () => {
    for (const s of idle.splice(0)) s.destroy();
    await sleep(300);
    for (let a = 1; a <= 8; a++) idle.push(...(await openIdle(server.port, 50, `127.0.0.${a + 10}`)));
    await sleep(300);
    const c = clientsFrom(`http://127.0.0.1:${server.port}`, "127.0.0.1");
    try {
      expect((await c.grpc.stat({ container, path: "/a.txt" })).entry?.size).toBe(10n);
      expect((await c.h1.stat({ container, path: "/a.txt" })).entry?.size).toBe(10n);
    } finally {
      c.close();
    }
    expect(server.child.exitCode).toBeNull();
  });
});

describe("podfiles serve --handshake-timeout (child process)", () => {
  it("idle sockets are closed by the server after the deadline; the server keeps serving", async () => {
    const root = mkdtempSync(join(tmpdir(), "podfiles-conn-"));
    const server = await serveWithFdLimit(root, 256, ["--handshake-timeout", "0.5", "--max-connections-per-peer", "100"]);
    const idle = await openIdle(server.port, 50);
    try {
      const closed = await Promise.all(idle.map((s) => closedWithin(s, 5000)));
      expect(closed.filter((ms) => ms === "open")).toEqual([]);
      expect(Math.min(...(closed as number[]))).toBeGreaterThanOrEqual(300);
      const c = clientsFrom(`http://127.0.0.1:${server.port}`, "127.0.0.1");
      try {
        expect((await c.health.check({})).status).toBe(1);
      } finally {
        c.close();
      }
    } finally {
      for (const s of idle) s.destroy();
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("serve --help documents the connection flags and their defaults", async () => {
    const help = execFileSync(process.execPath, [bin, "serve", "--help"], { encoding: "utf8" });
    expect(help).toMatch(/--max-connections <n>[\s\S]*default 1024[\s\S]*open-files limit/);
    expect(help).toMatch(/--max-connections-per-peer <n>[\s\S]*default 256/);
    expect(help).toMatch(/--handshake-timeout <seconds>[\s\S]*default 10/);
    expect(help).toMatch(/--idle-timeout <seconds>[\s\S]*default 300/);
  });
});

describe("deadlines and caps (in-process server)", () => {
  let server: TestServer | undefined;
  const sockets: net.Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  it("a connection that sends nothing is closed after the handshake deadline (cleartext sniffing)", async () => {
    server = await startTestServer({ connections: { handshakeTimeoutMs: 400 } });
    const [s] = await openIdle(server.port, 1);
    sockets.push(s);
    const ms = await closedWithin(s, 3000);
    expect(ms).not.toBe("open");
    expect(ms).toBeGreaterThanOrEqual(300);
  });

  it("an HTTP/1.1 request head that never ends is cut at the same deadline", async () => {
    server = await startTestServer({ connections: { handshakeTimeoutMs: 400 } });
    const [s] = await openIdle(server.port, 1);
    sockets.push(s);
    s.write("POST /podfiles.v1.FileService/Stat HTTP/1.1\r\nHost: 127.0.0.1\r\n"); // no blank line, ever
    expect(await closedWithin(s, 3000)).not.toBe("open");
  });

  it("a TLS connection that never completes its handshake is closed after the deadline", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podfiles-tls-"));
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=localhost",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
        ],
        { stdio: "ignore" },
      );
      server = await startTestServer({
        tls: { cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")) },
        connections: { handshakeTimeoutMs: 400 },
      });
      const [s] = await openIdle(server.port, 1);
      sockets.push(s);
      expect(await closedWithin(s, 3000)).not.toBe("open");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a TLS connection that completes the handshake but sends no request is closed at the same deadline", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podfiles-tls-"));
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-days",
          "1",
          "-subj",
          "/CN=localhost",
          "-keyout",
          join(dir, "key.pem"),
          "-out",
          join(dir, "cert.pem"),
        ],
        { stdio: "ignore" },
      );
      server = await startTestServer({
        tls: { cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")) },
        connections: { handshakeTimeoutMs: 400 },
      });
      for (const alpn of ["http/1.1", "h2"]) {
        const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
          const t = tls.connect({ port: server!.port, host: "127.0.0.1", rejectUnauthorized: false, ALPNProtocols: [alpn] }, () => resolve(t));
          t.once("error", reject);
        });
        s.on("error", () => undefined);
        sockets.push(s);
        expect(s.alpnProtocol).toBe(alpn);
        const ms = await closedWithin(s, 3000);
        expect(ms, alpn).not.toBe("open");
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an HTTP/2 session with no open stream gets a GOAWAY after the idle timeout", async () => {
    server = await startTestServer({ connections: { idleTimeoutMs: 400 } });
    const session = http2.connect(server.url);
    try {
      const goaway = new Promise<number>((resolve) => {
        const t0 = Date.now();
        session.once("goaway", () => resolve(Date.now() - t0));
        session.once("close", () => resolve(Date.now() - t0));
      });
      await new Promise<void>((resolve, reject) => {
        const req = session.request({ ":path": "/no-such-route", ":method": "GET" });
        req.on("error", reject);
        req.resume();
        req.on("close", () => resolve());
        req.end();
      });
      const ms = await Promise.race([goaway, sleep(3000).then(() => "none" as const)]);
      expect(ms).not.toBe("none");
    } finally {
      session.destroy();
    }
  });

  it("beyond the per-peer cap a new connection is refused; another address still gets in", async () => {
    server = await startTestServer({ connections: { maxConnectionsPerPeer: 5 } });
    sockets.push(...(await openIdle(server.port, 5)));
    await sleep(100);
    const [sixth] = await openIdle(server.port, 1);
    sockets.push(sixth);
    expect(await closedWithin(sixth, 2000)).not.toBe("open");
    for (const s of sockets.slice(0, 5)) expect(s.destroyed || s.readableEnded, "the first five stay").toBe(false);
    const c = clientsFrom(server.url, "127.0.0.2");
    try {
      expect((await c.grpc.stat({ container: server.container, path: "/" })).entry?.path).toBe("/");
    } finally {
      c.close();
    }
  });

  it("at the total cap, the oldest connection still waiting for its first bytes makes room for a new one", async () => {
    server = await startTestServer({ connections: { maxConnections: 10, maxConnectionsPerPeer: 100 } });
    const flood = await openIdle(server.port, 10);
    sockets.push(...flood);
    await sleep(100);
    const oldest = closedWithin(flood[0], 3000);
    const c = clientsFrom(server.url, "127.0.0.1");
    try {
      expect((await c.h1.stat({ container: server.container, path: "/" })).entry?.path).toBe("/");
    } finally {
      c.close();
    }
    expect(await oldest).not.toBe("open");
    expect(flood[9].destroyed || flood[9].readableEnded, "the newest idle one stays").toBe(false);
  });
});
