// Find, DiskUsage and a recursive ListFiles over a 100,000-entry tree through `podfiles serve` (its own process, on
// loopback) against find(1), du(1) and ls -lR run locally on the same tree; and Tail's latency from an
// append to the line reaching the SDK client (p50/p99 over 200 appends, 20 ms apart). The
// server's peak RSS is read after the walks (the tree is never held whole). Bounded: 3 reps.
//   node bench/find.mjs [--entries N (≤100000, default 100000)] [--reps N (≤3, default 3)]
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { distDir, fmt, hwmMiB, median, percentile, run, snapshotDist, startPodfiles, stopProcess, textTable } from "./lib.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const entries = Math.min(arg("entries", 100_000), 100_000);
const reps = Math.min(arg("reps", 3), 3);
const log = (m) => process.stderr.write(`${m}\n`);

const cleanupDist = snapshotDist();
const work = mkdtempSync(join(tmpdir(), "podfiles-bench-find-"));
const root = join(work, "root");
const tree = join(root, "tree");
let server;
let client;
try {
  // 1,000 directories of 99 files each (and the directories themselves): 100,000 entries
  log(`writing a tree of ${entries} entries…`);
  const perDir = 99;
  const dirs = Math.ceil(entries / (perDir + 1));
  for (let d = 0; d < dirs; d++) {
    const dir = join(tree, `d${d % 10}`, `d${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < perDir; f++) writeFileSync(join(dir, `f${f}.${f % 10 === 7 ? "log" : "txt"}`), "");
  }
  server = await startPodfiles(root);
  const { createPodfilesClient } = await import(`${distDir}/src/index.js`);
  client = createPodfilesClient({ baseUrl: server.url, container: { namespace: "local", pod: "local", container: "local" } });

  const time = async (fn) => {
    const t = performance.now();
    const n = await fn();
    return { ms: performance.now() - t, n };
  };
  const count = async (it) => {
    let n = 0;
    for await (const _ of it) n++;
    return n;
  };
  const local = async (cmd, args) => (await run(cmd, args, { timeoutMs: 120_000 })).stdout.split("\n").filter(Boolean).length;

  const cases = [
    ["Find, every entry", () => count(client.find("/tree")), "find tree", () => local("find", [tree, "-mindepth", "1"])],
    ["Find --name '*.log'", () => count(client.find("/tree", { name: "*.log" })), "find tree -name '*.log'", () => local("find", [tree, "-name", "*.log"])],
    ["DiskUsage (every dir)", () => count(client.diskUsage("/tree")), "du tree", () => local("du", [tree])],
    // ls -lR prints a header and a blank line per directory too: its count is the entries plus 2 per directory
    ["ListFiles, recursive", () => count(client.list("/tree", { recursive: true })), "ls -lR tree", () => local("ls", ["-lR", tree])],
  ];
  const rows = [];
  for (const [name, ours, theirName, theirs] of cases) {
    const a = [];
    const b = [];
    let na = 0;
    let nb = 0;
    for (let r = 0; r < reps; r++) {
      const x = await time(ours);
      const y = await time(theirs);
      a.push(x.ms);
      b.push(y.ms);
      na = x.n;
      nb = y.n;
    }
    rows.push([name, String(na), fmt(median(a), "ms"), theirName, String(nb), fmt(median(b), "ms"), `${(median(a) / median(b)).toFixed(1)}×`]);
  }
  const hwm = hwmMiB(server.child.pid);

  // Tail latency: append a line, time until the client has it
  const file = join(root, "app.log");
  writeFileSync(file, "");
  const abort = new AbortController();
  let text = "";
  let waiting;
  const following = (async () => {
    try {
      for await (const c of client.tail("/app.log", { follow: true, signal: abort.signal })) {
        text += Buffer.from(c.data).toString();
        waiting?.();
      }
    } catch {}
  })();
  await new Promise((r) => setTimeout(r, 300));
  const lat = [];
  for (let i = 0; i < 200; i++) {
    const line = `line ${i}\n`;
    const seen = new Promise((resolve) => {
      waiting = () => text.endsWith(line) && resolve();
    });
    const t = performance.now();
    appendFileSync(file, line);
    await Promise.race([seen, new Promise((_, rej) => setTimeout(() => rej(new Error(`line ${i} not seen in 5 s`)), 5000))]);
    lat.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 20));
  }
  abort.abort();
  await following;

  console.log(textTable(["podfiles (SDK, via serve)", "results", "median", "local tool", "results", "median", "ratio"], rows));
  console.log(`server peak RSS after the walks: ${hwm.toFixed(0)} MiB`);
  console.log(
    `Tail -f latency, append → line at the client (200 appends): p50 ${fmt(percentile(lat, 50), "ms")}, p99 ${fmt(percentile(lat, 99), "ms")}, max ${fmt(Math.max(...lat), "ms")}`,
  );
} finally {
  client?.close();
  if (server) await stopProcess(server.child);
  rmSync(work, { recursive: true, force: true });
  cleanupDist();
}
