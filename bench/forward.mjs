// One hop vs direct (issue 11): download and upload of one file through a forwarding podfiles
// server (bench/forward-server.mjs, every call forwarded to the serving one) and straight to the
// serving one, on loopback, interleaved. Reports MiB/s, the ratio hop/direct (target >= 0.8), and
// the forwarding process's CPU seconds per GiB and peak RSS. A benchmark, not a test.
//   npm run build && node bench/forward.mjs [--size MiB (1024)] [--reps N (2)] [--stack grpc|connect-h1|connect-h2]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  GiB,
  MiB,
  benchDir,
  client,
  distReady,
  fmt,
  median,
  mibps,
  repoDir,
  run,
  snapshotDist,
  startPodfiles,
  startProcess,
  textTable,
  watch,
} from "./lib.mjs";

const { values } = parseArgs({
  options: { size: { type: "string", default: "1024" }, reps: { type: "string", default: "2" }, stack: { type: "string", default: "grpc" } },
});
const size = Number(values.size) * MiB;
const reps = Number(values.reps);
if (!distReady()) throw new Error("build first: npm run build");
const dropSnapshot = snapshotDist();
const root = mkdtempSync(join(tmpdir(), "podfiles-fwd-bench-"));
const log = (...a) => console.error(...a);
let serving;
let forwarding;
try {
  log(`writing ${values.size} MiB of random data under ${root}`);
  const w = await run("sh", ["-c", `head -c ${size} /dev/urandom > ${root}/src.bin && cp ${root}/src.bin ${root}/down.bin`], { timeoutMs: 300_000 });
  if (w.code !== 0) throw new Error(w.stderr);
  serving = await startPodfiles(root);
  const direct = serving.value.url ?? `http://127.0.0.1:${serving.value.port}`;
  forwarding = await startProcess(process.execPath, [`${benchDir}/forward-server.mjs`, new URL(direct).host], {
    cwd: repoDir,
    env: { UV_THREADPOOL_SIZE: "128", ...process.env },
    ready: (line) => {
      try {
        const j = JSON.parse(line);
        return j.msg === "listening" ? j : undefined;
      } catch {
        return undefined;
      }
    },
  });
  const hop = forwarding.value.url;
  const rows = { download: { direct: [], hop: [] }, upload: { direct: [], hop: [] } };
  const timeoutMs = Math.max(120_000, (size / MiB) * 500);
  for (let rep = 0; rep < reps; rep++) {
    for (const via of rep % 2 ? ["hop", "direct"] : ["direct", "hop"]) {
      const url = via === "hop" ? hop : direct;
      const pid = via === "hop" ? forwarding.pid : serving.pid;
      const d = await watch(pid, () => client({ op: "download", stack: values.stack, url, path: "/down.bin", chunkSize: MiB, expectBytes: size }, timeoutMs));
      rows.download[via].push(d);
      log(
        `download ${via}: ${fmt(mibps(d.bytes, d.ms), "MiB/s")}, ${via === "hop" ? "forwarding" : "serving"} process ${fmt(d.serverCpu / (d.bytes / GiB), "s/GiB")} CPU, peak RSS ${fmt(d.serverPeakRss, "MiB")}`,
      );
      const u = await watch(pid, () =>
        client({ op: "upload", stack: "grpc-stream", url, src: `${root}/src.bin`, dest: `/up-${via}.bin`, chunkSize: MiB }, timeoutMs),
      );
      rows.upload[via].push(u);
      log(
        `upload ${via}: ${fmt(mibps(u.bytes, u.ms), "MiB/s")}, ${via === "hop" ? "forwarding" : "serving"} process ${fmt(u.serverCpu / (u.bytes / GiB), "s/GiB")} CPU, peak RSS ${fmt(u.serverPeakRss, "MiB")}`,
      );
    }
  }
  const table = [];
  for (const op of ["download", "upload"]) {
    const d = median(rows[op].direct.map((r) => mibps(r.bytes, r.ms)));
    const h = median(rows[op].hop.map((r) => mibps(r.bytes, r.ms)));
    const cpu = median(rows[op].hop.map((r) => r.serverCpu / (r.bytes / GiB)));
    const rss = Math.max(...rows[op].hop.map((r) => r.serverPeakRss));
    const rss0 = Math.min(...rows[op].hop.map((r) => r.serverRssBefore));
    table.push([op, fmt(d, "MiB/s"), fmt(h, "MiB/s"), (h / d).toFixed(2), fmt(cpu, "s/GiB"), `${fmt(rss0, "MiB")} → ${fmt(rss, "MiB")}`]);
  }
  console.log(`${values.size} MiB, ${reps} reps (medians), ${values.stack} downloads / gRPC client-stream uploads, loopback`);
  console.log(textTable(["op", "direct", "one hop", "hop/direct", "forwarder CPU", "forwarder RSS (before → peak)"], table));

  // What a hop adds to a call's latency: Stat, and the first byte of a 1 MiB download, through the SDK with its
  // connection (and the forwarder's to its peer) warm; 200 calls each way, interleaved.
  const { createPodfilesClient } = await import(pathToFileURL(`${process.env.PODFILES_BENCH_DIST}/src/index.js`).href);
  await run("sh", ["-c", `head -c ${MiB} ${root}/src.bin > ${root}/small.bin`], { timeoutMs: 30_000 });
  const container = { namespace: "local", pod: "local", container: "local" };
  const clients = { direct: createPodfilesClient({ baseUrl: direct, container }), hop: createPodfilesClient({ baseUrl: hop, container }) };
  const lat = { stat: { direct: [], hop: [] }, ttfb: { direct: [], hop: [] } };
  try {
    for (let i = 0; i < 210; i++) {
      for (const via of i % 2 ? ["hop", "direct"] : ["direct", "hop"]) {
        let t = performance.now();
        await clients[via].stat("/small.bin");
        const stat = performance.now() - t;
        t = performance.now();
        let first;
        for await (const chunk of clients[via].download("/small.bin")) if (first === undefined && chunk.length > 0) first = performance.now() - t;
        if (i >= 10) {
          // the first 10 warm both paths up
          lat.stat[via].push(stat);
          lat.ttfb[via].push(first);
        }
      }
    }
  } finally {
    for (const c of Object.values(clients)) c.close();
  }
  const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))];
  const ms = (x) => `${x.toFixed(2)} ms`;
  console.log(`latency, 200 calls each way after 10 warm-up calls (p50 / p99)`);
  console.log(
    textTable(
      ["call", "direct", "one hop", "added (p50)"],
      Object.entries(lat).map(([k, v]) => [
        k === "stat" ? "Stat" : "Download 1 MiB, first byte",
        `${ms(pct(v.direct, 50))} / ${ms(pct(v.direct, 99))}`,
        `${ms(pct(v.hop, 50))} / ${ms(pct(v.hop, 99))}`,
        ms(pct(v.hop, 50) - pct(v.direct, 50)),
      ]),
    ),
  );
} finally {
  await forwarding?.stop();
  await serving?.stop();
  rmSync(root, { recursive: true, force: true });
  dropSnapshot();
}
