// The cost of an idle connection: server RSS per connection held open in each state, for the
// connection caps (src/server/connection-limits.ts). Bounded: N connections (default 1,000) on
// loopback, one fresh `podfiles serve` process per state, ~20 s in all.
//
//   npm run build && node bench/idle-connections.mjs [--connections 1000]
//
// sniffing  TCP connected, nothing sent (the server waits for the preface / request head)
// h1        one HTTP/1.1 request answered, then idle keep-alive
// h2        HTTP/2 session, one stream answered, then idle (no open stream)
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../bin/podfiles.js", import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg("--connections", 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withDeadline = (p, ms, what) => Promise.race([p, sleep(ms).then(() => Promise.reject(new Error(`${what}: no answer in ${ms} ms`)))]);

async function startServer(root) {
  const big = String(N * 2 + 100);
  const child = spawn(
    process.execPath,
    [
      bin,
      "serve",
      "--root",
      root,
      "--port",
      "0",
      "--max-connections",
      big,
      "--max-connections-per-peer",
      big,
      "--handshake-timeout",
      "600",
      "--idle-timeout",
      "600",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  const port = await withDeadline(
    new Promise((resolve, reject) => {
      child.stderr.on("data", (d) => {
        err += d;
        const m = /"msg":"listening".*?"port":(\d+)/.exec(err);
        if (m) resolve(Number(m[1]));
      });
      child.once("exit", (code) => reject(new Error(`serve exited ${code}: ${err}`)));
    }),
    15_000,
    "server start",
  );
  const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))[1]) * 1024;
  return { child, port, rss, stop: () => child.kill("SIGTERM") };
}

const open = {
  sniffing: (port) =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(() => s.destroy()));
      s.once("error", reject);
    }),
  h1: (port) =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => s.write("GET /none HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
      s.once("error", reject);
      s.once("data", () => resolve(() => s.destroy())); // answered (404); the connection stays open
    }),
  h2: (port) =>
    new Promise((resolve, reject) => {
      const session = http2.connect(`http://127.0.0.1:${port}`);
      session.once("error", reject);
      const req = session.request({ ":path": "/none" });
      req.resume();
      req.once("close", () => resolve(() => session.destroy()));
      req.end();
    }),
};

async function measure(state) {
  const root = mkdtempSync(join(tmpdir(), "podfiles-idle-"));
  const server = await startServer(root);
  try {
    // one of each first, so that lazily loaded code is not counted per connection
    for (const f of Object.values(open)) (await f(server.port))();
    await sleep(1000);
    const before = server.rss();
    const closers = [];
    for (let i = 0; i < N; i += 50)
      closers.push(...(await withDeadline(Promise.all(Array.from({ length: Math.min(50, N - i) }, () => open[state](server.port))), 20_000, state)));
    await sleep(1500);
    const after = server.rss();
    for (const c of closers) c();
    return {
      state,
      connections: N,
      rssBeforeMiB: +(before / 2 ** 20).toFixed(1),
      rssAfterMiB: +(after / 2 ** 20).toFixed(1),
      perConnectionKiB: +((after - before) / N / 1024).toFixed(1),
    };
  } finally {
    server.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

const results = [];
for (const state of ["sniffing", "h1", "h2"]) results.push(await measure(state));
console.table(results);
console.log(JSON.stringify(results));
