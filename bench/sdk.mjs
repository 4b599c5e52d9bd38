// The TypeScript SDK and the CLI's transfer commands against raw node:http2, same run, each
// server and each client its own process on loopback (issue 12):
//   - SDK download (verified stream, no file; SHA-256, and CRC-32) vs raw http2 download (no file)
//   - SDK upload from a file path (SHA-256 computed while sending, in the trailer) vs raw http2 upload of the same file
//   - `podfiles get` / `podfiles put` whole commands (start-up, connection, fsync'd .part or
//     atomic upload included) vs a raw http2 client process doing the same transfer with the same
//     local file reads and writes (write + fsync on download)
// Client CPU: of the transfer inside the process (SDK, raw), or of the whole process
// (commands: user+sys from /usr/bin/time). Bounded: at most 1 GiB and 3 reps.
//   node bench/sdk.mjs [--size MiB (≤1024, default 1024)] [--reps N (≤3, default 3)]
import { randomFillSync } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MiB, benchDir, distDir, fmt, median, mibps, run, snapshotDist, startPodfiles, startRawH2, stopProcess, textTable } from "./lib.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const sizeMiB = Math.min(arg("size", 1024), 1024);
const reps = Math.min(arg("reps", 3), 3);
const size = sizeMiB * MiB;
const deadline = 15_000 + (size / (10 * MiB)) * 1000;
const log = (m) => process.stderr.write(`${m}\n`);

const cleanupDist = snapshotDist();
const work = fs.mkdtempSync(join(tmpdir(), "podfiles-bench-sdk-"));
const root = join(work, "root");
const local = join(work, "local");
fs.mkdirSync(root);
fs.mkdirSync(local);
const servers = [];
try {
  log(`writing ${sizeMiB} MiB of random bytes…`);
  const src = join(local, "src.bin");
  {
    const fd = fs.openSync(src, "w");
    const buf = Buffer.allocUnsafe(MiB);
    for (let i = 0; i < sizeMiB; i++) fs.writeSync(fd, randomFillSync(buf));
    fs.closeSync(fd);
  }
  fs.copyFileSync(src, join(root, "file.bin"));
  await run("sh", ["-c", `cat "${src}" "${join(root, "file.bin")}" > /dev/null`], { timeoutMs: 60_000 }); // warm the page cache

  const podfiles = await startPodfiles(root);
  const raw = await startRawH2(root);
  servers.push(podfiles, raw);

  const child = async (args) => {
    const r = await run(process.execPath, [`${benchDir}/sdk-client.mjs`, JSON.stringify(args)], { timeoutMs: deadline });
    if (r.code !== 0) throw new Error(`${args.op} failed: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
    return JSON.parse(r.stdout.trim().split("\n").at(-1));
  };
  /** A whole command under /usr/bin/time: wall seconds and user+sys CPU of the process. */
  const timed = async (argv) => {
    const r = await run("/usr/bin/time", ["-f", "TIME %e %U %S", ...argv], { timeoutMs: deadline });
    if (r.code !== 0) throw new Error(`${argv.slice(0, 4).join(" ")} failed: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
    const [, e, u, s] = /TIME (\S+) (\S+) (\S+)/.exec(r.stderr);
    return { bytes: size, ms: Number(e) * 1000, cpuS: Number(u) + Number(s) };
  };
  const cli = (...args) => [process.execPath, `${distDir}/bundle/client-main.js`, ...args, "--server", podfiles.url, "--no-progress"];
  const clientScript = (args) => [process.execPath, `${benchDir}/sdk-client.mjs`, JSON.stringify(args)];
  const rm = (p) => fs.rmSync(p, { force: true });

  const cases = {
    "raw download": () => child({ op: "raw-download", url: raw.url, path: "file.bin" }),
    "SDK download": () => child({ op: "sdk-download", url: podfiles.url, path: "/file.bin" }),
    "raw upload": () => (rm(join(root, "up-raw.bin")), child({ op: "raw-upload", url: raw.url, src, dest: "up-raw.bin" })),
    "SDK upload": () => (rm(join(root, "up-sdk.bin")), child({ op: "sdk-upload", url: podfiles.url, src, dest: "/up-sdk.bin" })),
    "raw download to file, whole process": () => (
      rm(join(local, "raw.bin")), timed(clientScript({ op: "raw-download", url: raw.url, path: "file.bin", file: join(local, "raw.bin") }))
    ),
    "podfiles get, whole command": () => (rm(join(local, "get.bin")), timed(cli("get", "local/local/local:/file.bin", join(local, "get.bin")))),
    "raw upload from file, whole process": () => (
      rm(join(root, "up-raw.bin")), timed(clientScript({ op: "raw-upload", url: raw.url, src, dest: "up-raw.bin" }))
    ),
    "podfiles put, whole command": () => (rm(join(root, "up-put.bin")), timed(cli("put", "-f", src, "local/local/local:/up-put.bin"))),
    // the SDK in its fastest verified configuration: CRC-32 instead of SHA-256 on both sides
    "SDK download, CRC-32": () => child({ op: "sdk-download", url: podfiles.url, path: "/file.bin", digest: "crc32" }),
    "SDK upload, CRC-32": () => (rm(join(root, "up-sdk.bin")), child({ op: "sdk-upload", url: podfiles.url, src, dest: "/up-sdk.bin", digest: "crc32" })),
  };
  const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
  for (let rep = 0; rep < reps; rep++) {
    // alternate the order of each pair between reps
    const names = Object.keys(cases);
    const order = rep % 2 === 0 ? names : names.map((_, i) => names[i ^ 1]);
    for (const name of order) {
      const r = await cases[name]();
      if (r.bytes !== size) throw new Error(`${name}: ${r.bytes} bytes, expected ${size}`);
      results[name].push(r);
      log(`rep ${rep + 1} ${name}: ${fmt(mibps(r.bytes, r.ms), "MiB/s")}, client CPU ${r.cpuS.toFixed(2)} s`);
    }
  }
  const row = (name, baseline) => {
    const rate = median(results[name].map((r) => mibps(r.bytes, r.ms)));
    const cpu = median(results[name].map((r) => r.cpuS)) / (size / (1024 * MiB));
    const base = baseline && median(results[baseline].map((r) => mibps(r.bytes, r.ms)));
    return [
      name,
      fmt(rate, "MiB/s"),
      `${cpu.toFixed(2)} s/GiB`,
      baseline ?? "",
      base ? `${(rate / base).toFixed(2)}×` : "",
      base ? (rate / base >= 0.8 ? "pass" : "MISS") : "",
    ];
  };
  const rows = [
    row("raw download"),
    row("SDK download", "raw download"),
    row("SDK download, CRC-32", "raw download"),
    row("raw upload"),
    row("SDK upload", "raw upload"),
    row("SDK upload, CRC-32", "raw upload"),
    row("raw download to file, whole process"),
    row("podfiles get, whole command", "raw download to file, whole process"),
    row("raw upload from file, whole process"),
    row("podfiles put, whole command", "raw upload from file, whole process"),
  ];
  const load = fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  process.stdout.write(`${sizeMiB} MiB, ${reps} reps (medians), load average after ${load}, Node ${process.version}\n`);
  process.stdout.write(textTable(["figure", "rate", "client CPU", "baseline", "ratio", "≥ 0.8×"], rows) + "\n");
  fs.mkdirSync(`${benchDir}/results`, { recursive: true });
  fs.writeFileSync(`${benchDir}/results/sdk-latest.json`, JSON.stringify({ sizeMiB, reps, load, node: process.version, results }, null, 2));
} finally {
  for (const s of servers) await stopProcess(s.child);
  fs.rmSync(work, { recursive: true, force: true });
  cleanupDist();
}
