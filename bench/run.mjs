// npm run bench [-- --quick] [-- --reps N] [-- --keep] [-- --cluster]
//
// Every podfiles figure is a ratio against a baseline measured in the same run
// on the same machine. Server and clients run in separate processes on
// loopback; files hold random bytes; every child process has a deadline.
// Needs `npm run build` first (the clients import the generated code from dist/).
import { execSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { join } from "node:path";
import { randomFillSync } from "node:crypto";
import {
  GiB,
  MiB,
  benchDir,
  client,
  fmt,
  markdownTable,
  median,
  mibps,
  percentile,
  eldProbe,
  distReady,
  snapshotDist,
  repoDir,
  rssMiB,
  run,
  startPodfiles,
  startRawH2,
  textTable,
  watch,
} from "./lib.mjs";
import { chunkChart } from "./chart.mjs";
import { measureKubectlCp } from "./kubectl-cp.mjs";
import { buildGoClient, goClient } from "./go-client.mjs";

const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const KEEP = argv.includes("--keep");
/** Bring the real cluster up for figure 6 when none runs (it is taken down again). */
const CLUSTER = argv.includes("--cluster");
const repsArg = argv.indexOf("--reps");
const REPS = repsArg >= 0 ? Number(argv[repsArg + 1]) : QUICK ? 1 : 2;

const cfg = QUICK
  ? { big: 64 * MiB, mid: 16 * MiB, conc: 4 * MiB, concN: 32, entries: 10_000, entriesSmall: 1_000, budgetS: 100, label: "quick" }
  : { big: GiB, mid: 100 * MiB, conc: 32 * MiB, concN: 32, entries: 100_000, entriesSmall: 10_000, budgetS: 1500, label: "full" };
const CHUNK = MiB;
const SWEEP = [64 * 1024, 256 * 1024, MiB, 4 * MiB];
const sizeLabel = (b) => (b >= GiB ? `${b / GiB} GiB` : b >= MiB ? `${b / MiB} MiB` : `${b / 1024} KiB`);
const BIG = sizeLabel(cfg.big);
const MID = sizeLabel(cfg.mid);

const t0 = Date.now();
const elapsed = () => (Date.now() - t0) / 1000;
/** Deadline for one transfer: 15 s + the time at 10 MiB/s. */
const deadline = (bytes) => 15_000 + (bytes / MiB / 10) * 1000;
const log = (msg) => process.stderr.write(`[bench ${elapsed().toFixed(1)}s] ${msg}\n`);

const rows = [];
function row(figure, value, unit, baseline = null, { target = null, pass = null, baselineLabel = null, note = null, ratio } = {}) {
  const r = {
    figure,
    value: value === null || Number.isNaN(value) ? null : Number(value.toFixed(3)),
    unit,
    baseline: baseline === null || Number.isNaN(baseline) ? null : Number(baseline.toFixed(3)),
    ratio: ratio !== undefined ? ratio : value !== null && baseline ? Number((value / baseline).toFixed(3)) : null,
    target,
    pass,
  };
  if (baselineLabel) r.baselineOf = baselineLabel;
  if (note) r.note = note;
  rows.push(r);
  return r;
}
/** Row with a ratio target (value/baseline ≥ min). */
function ratioRow(figure, value, unit, baseline, min, baselineLabel) {
  const ratio = value / baseline;
  return row(figure, value, unit, baseline, {
    target: `≥ ${min.toFixed(2)}× ${baselineLabel}`,
    pass: Number.isFinite(ratio) ? ratio >= min : false,
    baselineLabel,
  });
}
function failedRow(figure, err) {
  log(`FAILED ${figure}: ${err.message}`);
  return row(figure, null, "", null, { note: `failed: ${err.message.slice(0, 300)}`, pass: null });
}

// ------------------------------------------------------------------ setup

if (!distReady()) {
  console.error("bench: dist/ is missing: run `npm run build` first");
  process.exit(2);
}
const dropSnapshot = snapshotDist();
const work = mkdtempSync(join(tmpdir(), "podfiles-bench-"));
const root = join(work, "root");
mkdirSync(join(root, "up"), { recursive: true });
const children = new Set();
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  for (const c of children) await c.stop().catch(() => {});
  dropSnapshot();
  if (!KEEP) rmSync(work, { recursive: true, force: true });
}
process.once("SIGINT", () => cleanup().then(() => process.exit(130)));
process.once("SIGTERM", () => cleanup().then(() => process.exit(143)));

function randomFile(path, size) {
  const fd = openSync(path, "w");
  const buf = Buffer.allocUnsafe(Math.min(size, 8 * MiB));
  for (let done = 0; done < size; ) {
    const n = Math.min(buf.length, size - done);
    randomFillSync(buf, 0, n);
    writeSync(fd, buf, 0, n);
    done += n;
  }
  closeSync(fd);
}

function manyFiles(dir, n) {
  mkdirSync(dir);
  for (let i = 0; i < n; i++) closeSync(openSync(join(dir, `entry-${String(i).padStart(6, "0")}.txt`), "w"));
}

const machine = {
  date: new Date().toISOString(),
  mode: cfg.label,
  reps: REPS,
  nproc: cpus().length,
  cpu: cpus()[0]?.model ?? "?",
  node: process.version,
  kernel: release(),
  loadBefore: loadavg().map((x) => Number(x.toFixed(2))),
  commit: (() => {
    try {
      return (
        execSync("git rev-parse --short HEAD", { cwd: repoDir }).toString().trim() +
        (execSync("git status --porcelain -- src gen", { cwd: repoDir }).toString().trim() ? " + uncommitted src changes" : "")
      );
    } catch {
      return "?";
    }
  })(),
};
log(
  `mode ${cfg.label}, ${REPS} rep(s), ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, kernel ${machine.kernel}, load ${machine.loadBefore.join(" ")}`,
);
log(`preparing files in ${work}`);
randomFile(join(root, "big.bin"), cfg.big);
randomFile(join(root, "mid.bin"), cfg.mid);
randomFile(join(root, "conc.bin"), cfg.conc);
randomFile(join(root, "tiny.bin"), 4096);
manyFiles(join(root, "list-big"), cfg.entries);
manyFiles(join(root, "list-small"), cfg.entriesSmall);
const bigPath = join(root, "big.bin");

async function started(p) {
  const s = await p;
  children.add(s);
  return s;
}
async function stopped(s) {
  children.delete(s);
  await s.stop();
}

const results = {};
try {
  // ---------------------------------------------------------------- local baselines
  await run("sh", ["-c", `cat '${bigPath}' > /dev/null`], { timeoutMs: deadline(cfg.big) }); // warm the page cache
  const catMs = [];
  const tarMs = [];
  for (let i = 0; i < Math.max(REPS, 2); i++) {
    catMs.push((await run("sh", ["-c", `cat '${bigPath}' > /dev/null`], { timeoutMs: deadline(cfg.big) })).ms);
    tarMs.push((await run("sh", ["-c", `cd '${root}' && tar cf - big.bin | tar xf - -O > /dev/null`], { timeoutMs: deadline(cfg.big) })).ms);
  }
  results.cat = mibps(cfg.big, median(catMs));
  results.tar = mibps(cfg.big, median(tarMs));
  log(`cat ${fmt(results.cat, "MiB/s")}, tar pipe ${fmt(results.tar, "MiB/s")}`);

  // ---------------------------------------------------------------- downloads
  // grpc-go (bench/go-client on the generated gen/go module): an efficient real client, so that the
  // server's own limits show where the connect-node client's copies would hide them
  let goBin;
  try {
    goBin = await buildGoClient({ repoDir, log });
  } catch (err) {
    log(`Go client build failed, its rows are skipped: ${err.message.split("\n")[0]}`);
  }
  const eld = eldProbe(work);
  let pod = await started(startPodfiles(root, eld.nodeArgs, { env: eld.env }));
  const raw = await started(startRawH2(root));
  // The prototype of the proposed zero-copy gRPC Download (bench/zero-copy-server.mjs), with and without SHA-256.
  const zc = await started(startRawH2(root, "zero-copy-server.mjs"));
  const zcNoHash = await started(startRawH2(root, "zero-copy-server.mjs", ["--no-hash"]));
  const zcWorker = await started(startRawH2(root, "zero-copy-server.mjs", ["--hash-worker"]));
  results.podIdleRss = rssMiB(pod.pid);
  machine.confinement = pod.confinement;
  results.rawIdleRss = rssMiB(raw.pid);
  const PROTO = {
    "zc-grpcjs": [zc, "grpcjs"],
    "zc-grpc": [zc, "grpc"],
    "zc-grpcjs-nohash": [zcNoHash, "grpcjs"],
    "zc-grpcjs-hashworker": [zcWorker, "grpcjs"],
  };
  const dl = async (stack, path, chunkSize, size, extra = {}) => {
    const [srv, clientStack] = PROTO[stack] ?? [stack === "raw-h2" ? raw : pod, stack];
    const p = stack === "raw-h2" ? path : `/${path}`;
    if (stack === "go" && !goBin) throw new Error("no Go client (its build failed)");
    const r = await watch(srv.pid, () =>
      stack === "go"
        ? goClient(
            goBin,
            { op: "download", url: srv.url, path: p, chunkSize, expectBytes: size, concurrency: extra.concurrency ?? 1 },
            deadline(size * (extra.concurrency ?? 1)),
          )
        : client(
            {
              op: "download",
              stack: clientStack,
              url: srv.url,
              path: p,
              chunkSize,
              expectBytes: size,
              warm: stack === "raw-h2" ? "tiny.bin" : "/tiny.bin",
              ...extra,
            },
            deadline(size * (extra.concurrency ?? 1)),
          ),
    );
    return { ...r, mibps: mibps(r.bytes, r.ms), cpuPerGiB: r.serverCpu / (r.bytes / GiB) };
  };
  const DL_STACKS = ["raw-h2", "grpc", "grpcjs", "go", "connect-h1", "connect-h2", "zc-grpcjs", "zc-grpc", "zc-grpcjs-nohash", "zc-grpcjs-hashworker"];
  const dlRuns = Object.fromEntries(DL_STACKS.map((s) => [s, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const stack of DL_STACKS) {
      try {
        const r = await dl(stack, "big.bin", CHUNK, cfg.big);
        dlRuns[stack].push(r);
        log(`download ${BIG} ${stack}: ${fmt(r.mibps, "MiB/s")}, server CPU ${fmt(r.cpuPerGiB, "s/GiB")}, peak RSS ${fmt(r.serverPeakRss, "MiB")}`);
      } catch (err) {
        log(`download ${stack} failed: ${err.message}`);
      }
    }
  }
  const dlMed = (stack, key = "mibps") => median(dlRuns[stack].map((r) => r[key]));
  await stopped(zc);
  await stopped(zcNoHash);
  await stopped(zcWorker);

  // ---------------------------------------------------------------- chunk size sweep (chart)
  const sweep = {};
  const SWEEP_STACKS = ["raw-h2", "grpc", "grpcjs", "connect-h1"];
  for (const stack of SWEEP_STACKS) sweep[stack] = {};
  for (const cs of SWEEP) {
    for (const stack of SWEEP_STACKS) {
      if (cs === CHUNK) {
        sweep[stack][cs] = dlMed(stack);
        continue;
      }
      try {
        const r = await dl(stack, "big.bin", cs, cfg.big);
        sweep[stack][cs] = r.mibps;
        log(`sweep ${sizeLabel(cs)} ${stack}: ${fmt(r.mibps, "MiB/s")}`);
      } catch (err) {
        sweep[stack][cs] = NaN;
        log(`sweep ${sizeLabel(cs)} ${stack} failed: ${err.message}`);
      }
    }
  }

  // ---------------------------------------------------------------- uploads
  const ul = async (stack, src, size, srvOverride, chunkSize = CHUNK) => {
    const srv = srvOverride ?? (stack === "raw-h2" ? raw : pod);
    const dest = stack === "raw-h2" ? `up/${stack}.bin` : `/up/${stack}.bin`;
    if (stack === "go" && !goBin) throw new Error("no Go client (its build failed)");
    const r = await watch(srv.pid, () =>
      stack === "go"
        ? goClient(goBin, ["upload", "--url", srv.url, "--src", src, "--dest", dest, "--chunk-size", String(chunkSize)], deadline(size))
        : client({ op: "upload", stack, url: srv.url, src, dest, chunkSize }, deadline(size)),
    );
    rmSync(join(root, "up", `${stack}.bin`), { force: true });
    if (r.bytes !== size) throw new Error(`uploaded ${r.bytes} of ${size}`);
    return { ...r, mibps: mibps(r.bytes, r.ms), cpuPerGiB: r.serverCpu / (r.bytes / GiB), sysPerGiB: r.serverSysCpu / (r.bytes / GiB) };
  };
  const UL_STACKS = ["raw-h2", "grpc-stream", "go", "chunked-h1"];
  const ulRuns = Object.fromEntries(UL_STACKS.map((s) => [s, []]));
  for (let rep = 0; rep < REPS; rep++) {
    for (const stack of UL_STACKS) {
      try {
        const r = await ul(stack, bigPath, cfg.big);
        ulRuns[stack].push(r);
        log(`upload ${BIG} ${stack}: ${fmt(r.mibps, "MiB/s")}, server CPU ${fmt(r.cpuPerGiB, "s/GiB")}, peak RSS ${fmt(r.serverPeakRss, "MiB")}`);
      } catch (err) {
        log(`upload ${stack} failed: ${err.message}`);
      }
    }
  }
  const ulMed = (stack, key = "mibps") => median(ulRuns[stack].map((r) => r[key]));
  try {
    results.chunked4m = (await ul("chunked-h1", bigPath, cfg.big, undefined, 4 * MiB)).mibps;
    log(`upload ${BIG} chunked-h1, 4 MiB calls: ${fmt(results.chunked4m, "MiB/s")}`);
  } catch (err) {
    log(`upload chunked 4 MiB failed: ${err.message}`);
  }

  // ---------------------------------------------------------------- concurrency + Stat latency
  const statLoop = async (loadFn) => {
    let statChild;
    let ready;
    const readyP = new Promise((r) => (ready = r));
    const statP = run(process.execPath, [`${benchDir}/client.mjs`, JSON.stringify({ op: "stat-loop", url: pod.url, path: "/conc.bin", intervalMs: 10 })], {
      timeoutMs: deadline(cfg.conc * cfg.concN) + 30_000,
      input: null,
      onStdoutLine: (line, child) => {
        statChild = child;
        if (line === "ready") ready();
      },
    });
    await Promise.race([readyP, statP]);
    let load;
    try {
      load = await loadFn();
    } finally {
      statChild?.stdin.end();
    }
    const s = await statP;
    const lines = s.stdout.trim().split("\n");
    const lat = JSON.parse(lines[lines.length - 1]).latencies;
    return { load, lat };
  };
  let conc = {};
  try {
    await eld.read(pod.pid);
    const idle = await statLoop(() => new Promise((r) => setTimeout(r, QUICK ? 500 : 1500)));
    conc.eldIdle = await eld.read(pod.pid);
    conc.idleP50 = percentile(idle.lat, 50);
    conc.idleP99 = percentile(idle.lat, 99);
    const rawConc = await dl("raw-h2", "conc.bin", CHUNK, cfg.conc, { concurrency: cfg.concN });
    await eld.read(pod.pid);
    const loaded = await statLoop(() => dl("grpc", "conc.bin", CHUNK, cfg.conc, { concurrency: cfg.concN }));
    conc.eldLoad = await eld.read(pod.pid);
    try {
      const goLoaded = await statLoop(() => dl("go", "conc.bin", CHUNK, cfg.conc, { concurrency: cfg.concN }));
      conc.go = goLoaded.load.mibps;
      conc.goN = goLoaded.lat.length;
      conc.goP50 = percentile(goLoaded.lat, 50);
      conc.goP99 = percentile(goLoaded.lat, 99);
      conc.goMax = Math.max(...goLoaded.lat);
      log(
        `${cfg.concN}×${sizeLabel(cfg.conc)} grpc-go: ${fmt(conc.go, "MiB/s")}; Stat p50 ${fmt(conc.goP50, "ms")} p99 ${fmt(conc.goP99, "ms")} (${conc.goN} calls)`,
      );
    } catch (err) {
      log(`${cfg.concN} concurrent downloads, Go client, failed: ${err.message}`);
    }
    conc.raw = rawConc.mibps;
    conc.grpc = loaded.load.mibps;
    conc.n = loaded.lat.length;
    conc.p50 = percentile(loaded.lat, 50);
    conc.p99 = percentile(loaded.lat, 99);
    conc.max = Math.max(...loaded.lat);
    conc.peakRss = loaded.load.serverPeakRss;
    log(
      `${cfg.concN}×${sizeLabel(cfg.conc)}: grpc ${fmt(conc.grpc, "MiB/s")} vs raw ${fmt(conc.raw, "MiB/s")}; Stat p50 ${fmt(conc.p50, "ms")} p99 ${fmt(conc.p99, "ms")} (${conc.n} calls; idle p50 ${fmt(conc.idleP50, "ms")} p99 ${fmt(conc.idleP99, "ms")})`,
    );
  } catch (err) {
    conc = { error: err };
  }
  await stopped(pod);

  // ---------------------------------------------------------------- server RSS: mid vs big file, fresh server each
  const rss = {};
  for (const kind of ["download", "grpc-stream", "chunked-h1"]) {
    try {
      pod = await started(startPodfiles(root));
      if (kind === "download") {
        await dl("grpc", "tiny.bin", CHUNK, 4096);
        const m = await dl("grpc", "mid.bin", CHUNK, cfg.mid);
        const b = await dl("grpc", "big.bin", CHUNK, cfg.big);
        rss[kind] = { mid: m.serverPeakRss, big: b.serverPeakRss, idle: m.serverRssBefore };
      } else {
        const m = await ul(kind, join(root, "mid.bin"), cfg.mid, pod);
        const b = await ul(kind, bigPath, cfg.big, pod);
        rss[kind] = { mid: m.serverPeakRss, big: b.serverPeakRss, idle: m.serverRssBefore };
      }
      log(`server RSS ${kind}: ${MID} → ${fmt(rss[kind].mid, "MiB")}, ${BIG} → ${fmt(rss[kind].big, "MiB")}`);
    } catch (err) {
      rss[kind] = { error: err };
    } finally {
      await stopped(pod);
    }
  }
  const rawRss = { download: Math.max(...dlRuns["raw-h2"].map((r) => r.serverPeakRss)), upload: Math.max(...ulRuns["raw-h2"].map((r) => r.serverPeakRss)) };

  // ---------------------------------------------------------------- ListFiles
  let list = {};
  try {
    pod = await started(startPodfiles(root));
    await client({ op: "list", url: pod.url, path: "/" }, 15_000);
    const small = await watch(pod.pid, () => client({ op: "list", url: pod.url, path: "/list-small" }, 30_000));
    const big = await watch(pod.pid, () => client({ op: "list", url: pod.url, path: "/list-big" }, 60_000));
    if (big.entries !== cfg.entries) throw new Error(`listed ${big.entries} of ${cfg.entries}`);
    const ls = await run("sh", ["-c", `ls -lU '${join(root, "list-big")}' > /dev/null`], { timeoutMs: 60_000 });
    list = { small, big, lsMs: ls.ms };
    log(
      `ListFiles ${cfg.entries}: first batch ${fmt(big.firstBatchMs, "ms")}, total ${fmt(big.ms, "ms")}, RSS ${fmt(big.serverPeakRss, "MiB")} (${cfg.entriesSmall}: ${fmt(small.serverPeakRss, "MiB")}); ls -lU ${fmt(ls.ms, "ms")}`,
    );
  } catch (err) {
    list = { error: err };
  } finally {
    if (pod) await stopped(pod);
  }
  await stopped(raw);

  // ---------------------------------------------------------------- kubectl cp (figure 6)
  // On the real cluster of scripts/cluster.sh: a running one is used; --cluster brings one up (and down).
  let kcp;
  try {
    kcp = await measureKubectlCp({ repoDir, sizeMiB: QUICK ? 64 : 256, reps: QUICK ? 1 : 3, up: CLUSTER, log: (m) => log(`kubectl cp: ${m}`) });
    if (kcp.status === "measured") log(`kubectl cp ${fmt(kcp.kubectlCpMiBps, "MiB/s")}, podfiles get ${fmt(kcp.podfilesMiBps, "MiB/s")} (${kcp.sizeMiB} MiB)`);
  } catch (err) {
    kcp = { status: "failed", note: `failed: ${err.message.slice(0, 300)}` };
    log(`kubectl cp failed: ${err.message}`);
  }

  // ================================================================ rows
  const RAW = "raw http2";
  const rawDl = dlMed("raw-h2");
  const rawUl = ulMed("raw-h2");
  ratioRow(`download ${BIG}: gRPC, connect-node TS client`, dlMed("grpc"), "MiB/s", rawDl, 0.8, RAW);
  ratioRow(`download ${BIG}: gRPC, @grpc/grpc-js client`, dlMed("grpcjs"), "MiB/s", rawDl, 0.8, RAW);
  ratioRow(`download ${BIG}: gRPC, grpc-go client (generated Go module)`, dlMed("go"), "MiB/s", rawDl, 0.8, RAW);
  ratioRow(`download ${BIG}: Connect binary, HTTP/1.1`, dlMed("connect-h1"), "MiB/s", rawDl, 0.7, RAW);
  row(`download ${BIG}: Connect binary, h2c`, dlMed("connect-h2"), "MiB/s", rawDl, { baselineLabel: RAW, note: "no target in issue 6" });
  row(`baseline: raw node:http2 download ${BIG} (8/32 MiB windows, 1 MiB chunks)`, rawDl, "MiB/s");
  const ZC = "prototype zero-copy gRPC Download (bench/zero-copy-server.mjs)";
  row(`${ZC}, grpc-js client`, dlMed("zc-grpcjs"), "MiB/s", rawDl, { baselineLabel: RAW, note: "not podfiles: what the proposed data path reaches" });
  row(`${ZC}, connect-node TS client`, dlMed("zc-grpc"), "MiB/s", rawDl, { baselineLabel: RAW, note: "not podfiles" });
  row(`${ZC} without SHA-256, grpc-js client`, dlMed("zc-grpcjs-nohash"), "MiB/s", rawDl, { baselineLabel: RAW, note: "not podfiles" });
  row(`${ZC}, SHA-256 in a worker thread, grpc-js client`, dlMed("zc-grpcjs-hashworker"), "MiB/s", rawDl, { baselineLabel: RAW, note: "not podfiles" });
  row(`baseline: cat file > /dev/null`, results.cat, "MiB/s");
  row(`baseline: tar cf - file | tar xf - -O > /dev/null`, results.tar, "MiB/s");
  row(`download gRPC vs cat`, dlMed("grpc"), "MiB/s", results.cat, { baselineLabel: "cat" });
  row(`download gRPC vs tar pipe (kubectl cp's data path, no network)`, dlMed("grpc"), "MiB/s", results.tar, { baselineLabel: "tar pipe" });
  for (const cs of SWEEP.filter((c) => c !== CHUNK)) {
    row(`download ${BIG} gRPC, ${sizeLabel(cs)} chunks`, sweep.grpc[cs], "MiB/s", sweep["raw-h2"][cs], { baselineLabel: `${RAW}, ${sizeLabel(cs)} chunks` });
    row(`download ${BIG} grpc-js client, ${sizeLabel(cs)} chunks`, sweep.grpcjs[cs], "MiB/s", sweep["raw-h2"][cs], {
      baselineLabel: `${RAW}, ${sizeLabel(cs)} chunks`,
    });
    row(`download ${BIG} Connect HTTP/1.1, ${sizeLabel(cs)} chunks`, sweep["connect-h1"][cs], "MiB/s", sweep["raw-h2"][cs], {
      baselineLabel: `${RAW}, ${sizeLabel(cs)} chunks`,
    });
  }
  ratioRow(`upload ${BIG}: gRPC client stream, connect-node TS client (fsync)`, ulMed("grpc-stream"), "MiB/s", rawUl, 0.8, `${RAW} upload`);
  ratioRow(`upload ${BIG}: gRPC client stream, grpc-go client (fsync)`, ulMed("go"), "MiB/s", rawUl, 0.8, `${RAW} upload`);
  ratioRow(`upload ${BIG}: chunked unary, Connect HTTP/1.1, 1 MiB calls`, ulMed("chunked-h1"), "MiB/s", rawUl, 0.7, `${RAW} upload`);
  row(`upload ${BIG}: chunked unary, Connect HTTP/1.1, 4 MiB calls`, results.chunked4m ?? NaN, "MiB/s", rawUl, {
    baselineLabel: `${RAW} upload`,
    note: "one run",
  });
  row(`baseline: raw node:http2 upload ${BIG} (write + fsync)`, rawUl, "MiB/s");

  const rssRows = (label, r, rawPeak) => {
    if (!r || r.error) return failedRow(`server peak RSS, ${label}`, r?.error ?? new Error("not measured"));
    row(`server peak RSS, ${label} ${BIG}`, r.big, "MiB", rawPeak, { target: "< 150 MiB", pass: r.big < 150, baselineLabel: `${RAW} server, same transfer` });
    row(`server peak RSS, ${label} ${MID}`, r.mid, "MiB", null, { note: `server RSS before: ${fmt(r.idle, "MiB")}` });
    row(`server RSS growth ${MID} → ${BIG}, ${label}`, r.big - r.mid, "MiB", null, { target: "≤ 20 MiB", pass: r.big - r.mid <= 20, ratio: null });
  };
  rssRows("download gRPC", rss.download, rawRss.download);
  rssRows("upload gRPC stream", rss["grpc-stream"], rawRss.upload);
  rssRows("upload chunked", rss["chunked-h1"], rawRss.upload);
  row(`server RSS at idle (after start)`, results.podIdleRss, "MiB", results.rawIdleRss, { baselineLabel: `${RAW} server at idle` });

  const E = cfg.entries.toLocaleString("en-US");
  if (list.error) failedRow(`ListFiles ${E} entries`, list.error);
  else {
    row(`ListFiles ${E} entries: first batch`, list.big.firstBatchMs, "ms", null, { target: "< 100 ms", pass: list.big.firstBatchMs < 100 });
    row(`ListFiles ${E} entries: total`, list.big.ms, "ms", list.lsMs, { target: "< 2000 ms", pass: list.big.ms < 2000, baselineLabel: "ls -lU" });
    row(`ListFiles ${E} entries: server peak RSS`, list.big.serverPeakRss, "MiB", list.small.serverPeakRss, {
      target: `flat: ≤ 20 MiB above the ${cfg.entriesSmall.toLocaleString("en-US")}-entry listing`,
      pass: list.big.serverPeakRss - list.small.serverPeakRss <= 20,
      baselineLabel: `${cfg.entriesSmall}-entry listing`,
    });
  }

  const C = `${cfg.concN}×${sizeLabel(cfg.conc)}`;
  if (conc.error) failedRow(`${C} concurrent downloads`, conc.error);
  else {
    row(`${C} concurrent downloads (gRPC, connect-node TS client): aggregate`, conc.grpc, "MiB/s", conc.raw, { baselineLabel: `${RAW}, ${cfg.concN} streams` });
    row(`${C} concurrent downloads (gRPC, grpc-go client): aggregate`, conc.go ?? null, "MiB/s", conc.raw, { baselineLabel: `${RAW}, ${cfg.concN} streams` });
    row(`Stat p50 during ${C} downloads (TS client)`, conc.p50, "ms", conc.idleP50, { baselineLabel: "Stat p50 at idle" });
    row(`Stat p99 during ${C} downloads (TS client)`, conc.p99, "ms", conc.idleP99, {
      target: "< 50 ms",
      pass: conc.p99 < 50,
      baselineLabel: "Stat p99 at idle",
      note: `${conc.n} Stat calls, max ${fmt(conc.max, "ms")}`,
    });
    if (conc.goP99 !== undefined) {
      row(`Stat p50 during ${C} downloads (grpc-go client: server saturated)`, conc.goP50, "ms", conc.idleP50, { baselineLabel: "Stat p50 at idle" });
      row(`Stat p99 during ${C} downloads (grpc-go client: server saturated)`, conc.goP99, "ms", conc.idleP99, {
        target: "< 50 ms",
        pass: conc.goP99 < 50,
        baselineLabel: "Stat p99 at idle",
        note: `${conc.goN} Stat calls, max ${fmt(conc.goMax, "ms")}`,
      });
    }
    row(`server peak RSS during ${C} downloads`, conc.peakRss, "MiB");
    if (conc.eldLoad && conc.eldIdle)
      row(`server event-loop delay p99 during ${C} downloads`, conc.eldLoad.p99, "ms", conc.eldIdle.p99, {
        baselineLabel: "at idle",
        note: `max ${fmt(conc.eldLoad.max, "ms")}, mean ${fmt(conc.eldLoad.mean, "ms")} (monitorEventLoopDelay, 10 ms resolution)`,
      });
  }

  const cpuRow = (label, v, b, bl) => row(`server CPU per GiB: ${label}`, v, "s/GiB", b, { baselineLabel: bl });
  cpuRow("download gRPC (TS client)", dlMed("grpc", "cpuPerGiB"), dlMed("raw-h2", "cpuPerGiB"), `${RAW} download`);
  cpuRow("download gRPC (grpc-js client)", dlMed("grpcjs", "cpuPerGiB"), dlMed("raw-h2", "cpuPerGiB"), `${RAW} download`);
  cpuRow("download gRPC (grpc-go client)", dlMed("go", "cpuPerGiB"), dlMed("raw-h2", "cpuPerGiB"), `${RAW} download`);
  cpuRow("download Connect HTTP/1.1", dlMed("connect-h1", "cpuPerGiB"), dlMed("raw-h2", "cpuPerGiB"), `${RAW} download`);
  cpuRow("download Connect h2c", dlMed("connect-h2", "cpuPerGiB"), dlMed("raw-h2", "cpuPerGiB"), `${RAW} download`);
  cpuRow("prototype zero-copy gRPC Download (not podfiles)", dlMed("zc-grpcjs", "cpuPerGiB"), dlMed("raw-h2", "cpuPerGiB"), `${RAW} download`);
  cpuRow(
    "prototype zero-copy gRPC Download, SHA-256 in a worker (not podfiles)",
    dlMed("zc-grpcjs-hashworker", "cpuPerGiB"),
    dlMed("raw-h2", "cpuPerGiB"),
    `${RAW} download`,
  );
  cpuRow(
    "prototype zero-copy gRPC Download without SHA-256 (not podfiles)",
    dlMed("zc-grpcjs-nohash", "cpuPerGiB"),
    dlMed("raw-h2", "cpuPerGiB"),
    `${RAW} download`,
  );
  cpuRow("upload gRPC stream (TS client)", ulMed("grpc-stream", "cpuPerGiB"), ulMed("raw-h2", "cpuPerGiB"), `${RAW} upload`);
  cpuRow("upload gRPC stream (grpc-go client)", ulMed("go", "cpuPerGiB"), ulMed("raw-h2", "cpuPerGiB"), `${RAW} upload`);
  const sysRow = (label, stack) =>
    row(`server kernel CPU per GiB (stime, in the total above): ${label}`, ulMed(stack, "sysPerGiB"), "s/GiB", ulMed("raw-h2", "sysPerGiB"), {
      baselineLabel: `${RAW} upload`,
    });
  sysRow("upload gRPC stream (grpc-go client)", "go");
  sysRow("upload gRPC stream (TS client)", "grpc-stream");
  cpuRow("upload chunked", ulMed("chunked-h1", "cpuPerGiB"), ulMed("raw-h2", "cpuPerGiB"), `${RAW} upload`);

  if (kcp.status === "measured") {
    const size = `${kcp.sizeMiB} MiB`;
    row(`podfiles get vs kubectl cp, same pod and file (${size}, whole commands; figure 6)`, kcp.podfilesMiBps, "MiB/s", kcp.kubectlCpMiBps, {
      baselineLabel: "kubectl cp",
    });
    if (kcp.tunnelMiBps)
      row(`podfiles get via kubeconfig tunnel vs kubectl cp (${size}, whole commands; figure 6)`, kcp.tunnelMiBps, "MiB/s", kcp.kubectlCpMiBps, {
        baselineLabel: "kubectl cp",
      });
    row(`baseline: kubectl cp out of the pod (${size})`, kcp.kubectlCpMiBps, "MiB/s");
  } else {
    row(`podfiles get vs kubectl cp, same pod and file (figure 6)`, null, "MiB/s", null, {
      note: kcp.note ?? "not measured: no cluster running (npm run bench -- --cluster brings one up)",
    });
  }

  results.sweep = sweep;
} catch (err) {
  log(`aborted: ${err.stack ?? err}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}

// ================================================================ output
machine.loadAfter = loadavg().map((x) => Number(x.toFixed(2)));
machine.seconds = Number(elapsed().toFixed(1));
const unitFmt = (v, u) => (v === null ? "—" : fmt(v, u));
const passText = (p) => (p === true ? "pass" : p === false ? "MISS" : "");
const header = ["figure", "podfiles", "baseline", "ratio", "target", "pass"];
const tableRows = rows.map((r) => [
  r.figure,
  r.value === null ? (r.note ?? "—") : unitFmt(r.value, r.unit),
  r.baseline === null ? "" : `${unitFmt(r.baseline, r.unit)}${r.baselineOf ? ` (${r.baselineOf})` : ""}`,
  r.ratio === null ? "" : `${r.ratio.toFixed(2)}×`,
  r.target ?? "",
  passText(r.pass),
]);
const machineLine = `${machine.date} · ${machine.mode} · commit ${machine.commit} · ${machine.nproc} cores (${machine.cpu}) · Node ${machine.node} · Linux ${machine.kernel} · load before ${machine.loadBefore.join(" ")}, after ${machine.loadAfter.join(" ")} · ${machine.seconds} s`;
console.log(`podfiles bench — ${machineLine}\n`);
console.log(textTable(header, tableRows));

const resultsDir = join(benchDir, "results");
mkdirSync(resultsDir, { recursive: true });
writeFileSync(join(resultsDir, "latest.json"), JSON.stringify(rows, null, 2) + "\n");
writeFileSync(join(resultsDir, "latest.meta.json"), JSON.stringify(machine, null, 2) + "\n");
writeFileSync(join(resultsDir, "latest.md"), `${machineLine}\n\n${markdownTable(header, tableRows)}\n`);
if (results.sweep) {
  const svg = chunkChart(
    results.sweep,
    SWEEP,
    `Download ${BIG}, server → client in separate processes, loopback (${machine.date.slice(0, 10)}, ${machine.mode})`,
  );
  writeFileSync(join(resultsDir, "chunk-sizes.svg"), svg);
  if (!QUICK) {
    const day = machine.date.slice(0, 10);
    writeFileSync(join(resultsDir, `full-${day}.json`), JSON.stringify(rows, null, 2) + "\n");
    writeFileSync(join(resultsDir, `full-${day}.meta.json`), JSON.stringify(machine, null, 2) + "\n");
    writeFileSync(join(benchDir, "chunk-sizes.svg"), svg);
    updateReadme(machineLine, markdownTable(header, tableRows));
  }
}
log(`wrote bench/results/latest.json (${rows.length} rows) in ${machine.seconds} s`);

function updateReadme(machineLine, table) {
  const path = join(benchDir, "README.md");
  if (!existsSync(path)) return;
  const text = readFileSync(path, "utf8");
  const begin = "<!-- bench:table:begin -->";
  const end = "<!-- bench:table:end -->";
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return;
  const nodeInfo = `Machine: ${machine.nproc} cores, ${machine.cpu}, Node ${machine.node}, Linux ${machine.kernel}; load average before the run ${machine.loadBefore.join(" ")}, after ${machine.loadAfter.join(" ")}.`;
  writeFileSync(path, `${text.slice(0, i + begin.length)}\n${machineLine}\n\n${nodeInfo}\n\n${table}\n${text.slice(j)}`);
}
