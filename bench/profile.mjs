// CPU profile of the podfiles server during transfers.
//   node bench/profile.mjs [--stack grpc|grpcjs|connect-h1|connect-h2|upload|chunked] [--size MiB] [--chunk KiB] [--top N]
// Starts `node --cpu-prof bin/podfiles.js serve`, runs the transfer from a
// separate client process, stops the server (SIGTERM) so V8 writes the
// profile, then prints self time by function and by package.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, closeSync, openSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomFillSync } from "node:crypto";
import { MiB, GiB, benchDir, client, cpuSeconds, fmt, mibps, snapshotDist, startPodfiles, textTable, watch } from "./lib.mjs";

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : def;
};
const stack = opt("stack", "grpc");
const size = Number(opt("size", "1024")) * MiB;
const chunk = Number(opt("chunk", "1024")) * 1024;
const top = Number(opt("top", "25"));

export function summarize(profilePath, topN = 25) {
  const p = JSON.parse(readFileSync(profilePath, "utf8"));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map();
  const pkgs = new Map();
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    const url = cf.url.replace(/^file:\/\//, "");
    const short = url.includes("node_modules/") ? url.slice(url.lastIndexOf("node_modules/") + 13) : url.replace(/.*\/(dist|bench)\//, "$1/");
    const key = `${cf.functionName || "(anonymous)"}  ${short ? `${short}:${cf.lineNumber + 1}` : ""}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    let pkg;
    if (!url) pkg = cf.functionName.startsWith("(") ? cf.functionName : "(native/builtin)";
    else if (url.includes("node_modules/")) {
      const rest = url.slice(url.lastIndexOf("node_modules/") + 13).split("/");
      pkg = rest[0].startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0];
    } else if (url.startsWith("node:")) pkg = `node:${url.slice(5).split("/")[1] ?? url.slice(5)}`.replace("node:undefined", url);
    else if (url.includes("/dist/")) pkg = "podfiles (dist/)";
    else pkg = short;
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us);
  }
  const pct = (us) => `${((100 * us) / total).toFixed(1)}%`;
  const ms = (us) => `${(us / 1000).toFixed(0)} ms`;
  const topFns = [...fns].sort((a, b) => b[1] - a[1]).slice(0, topN);
  const topPkgs = [...pkgs].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return {
    totalMs: total / 1000,
    functions: textTable(
      ["self", "%", "function"],
      topFns.map(([k, us]) => [ms(us), pct(us), k]),
    ),
    packages: textTable(
      ["self", "%", "package / category"],
      topPkgs.map(([k, us]) => [ms(us), pct(us), k]),
    ),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const work = mkdtempSync(join(tmpdir(), "podfiles-prof-"));
  const root = join(work, "root");
  mkdirSync(join(root, "up"), { recursive: true });
  const fd = openSync(join(root, "f.bin"), "w");
  const buf = Buffer.allocUnsafe(8 * MiB);
  for (let done = 0; done < size; done += buf.length) writeSync(fd, randomFillSync(buf), 0, Math.min(buf.length, size - done));
  closeSync(fd);
  closeSync(openSync(join(root, "tiny.bin"), "w"));
  const profDir = join(benchDir, "results", "prof");
  mkdirSync(profDir, { recursive: true });
  const name = `server-${stack}-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile`;
  const gc = { scavenge: 0, markCompact: 0 };
  const countGc = (d) => {
    for (const line of String(d).split("\n")) {
      if (line.includes("Scavenge")) gc.scavenge++;
      else if (line.includes("Mark-Compact")) gc.markCompact++;
    }
  };
  const dropSnapshot = snapshotDist();
  process.on("exit", dropSnapshot);
  const server = await startPodfiles(root, ["--trace-gc", "--cpu-prof", `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${name}`], { onStdout: countGc });
  const gc0 = () => ({ ...gc });
  try {
    const cpu0 = cpuSeconds(server.pid);
    const gcStart = gc0();
    let r;
    if (stack === "list") {
      const dir = join(root, "many");
      mkdirSync(dir);
      for (let i = 0; i < 100_000; i++) closeSync(openSync(join(dir, `entry-${i}.txt`), "w"));
      r = await watch(server.pid, () => client({ op: "list", url: server.url, path: "/many" }, 120_000));
      console.log(
        `list: ${r.entries} entries, first batch ${fmt(r.firstBatchMs, "ms")}, total ${fmt(r.ms, "ms")}, server CPU ${fmt(r.serverCpu, "s")}, peak RSS ${fmt(r.serverPeakRss, "MiB")}`,
      );
    } else if (stack === "conc") {
      r = await watch(server.pid, () =>
        client(
          { op: "download", stack: "grpc", url: server.url, path: "/f.bin", chunkSize: chunk, expectBytes: size, concurrency: 32 },
          15_000 + ((32 * size) / MiB) * 100,
        ),
      );
      console.log(`32 concurrent: ${fmt(mibps(r.bytes, r.ms), "MiB/s")}, server CPU ${fmt(r.serverCpu, "s")}, peak RSS ${fmt(r.serverPeakRss, "MiB")}`);
    } else if (stack === "upload" || stack === "chunked") {
      const s = stack === "upload" ? "grpc-stream" : "chunked-h1";
      r = await watch(server.pid, () =>
        client({ op: "upload", stack: s, url: server.url, src: join(root, "f.bin"), dest: "/up/x.bin", chunkSize: chunk }, 15_000 + (size / MiB) * 100),
      );
    } else {
      r = await watch(server.pid, () =>
        client({ op: "download", stack, url: server.url, path: "/f.bin", chunkSize: chunk, expectBytes: size, warm: "/tiny.bin" }, 15_000 + (size / MiB) * 100),
      );
    }
    if (!["list", "conc"].includes(stack))
      console.log(
        `${stack}: ${fmt(mibps(r.bytes, r.ms), "MiB/s")}, server CPU ${fmt(r.serverCpu, "s")} (${fmt(r.serverCpu / (r.bytes / GiB), "s/GiB")}), peak RSS ${fmt(r.serverPeakRss, "MiB")}; CPU since start ${fmt(cpuSeconds(server.pid) - cpu0, "s")}`,
      );
    const moved = (r.bytes ?? 0) / GiB;
    console.log(
      `GC during the transfer: ${gc.markCompact - gcStart.markCompact} mark-compacts, ${gc.scavenge - gcStart.scavenge} scavenges` +
        (moved
          ? ` (${((gc.markCompact - gcStart.markCompact) / moved).toFixed(0)} mark-compacts/GiB, ${((gc.scavenge - gcStart.scavenge) / moved).toFixed(0)} scavenges/GiB)`
          : ""),
    );
  } finally {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const file = readdirSync(profDir).find((f) => f === name);
  if (!file) {
    console.error("no profile written");
    process.exit(1);
  }
  const s = summarize(join(profDir, file), top);
  console.log(`\nprofile ${join("bench/results/prof", file)}: ${s.totalMs.toFixed(0)} ms sampled (whole server life, idle included)\n`);
  console.log(s.packages + "\n");
  console.log(s.functions);
}
