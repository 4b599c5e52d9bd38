#!/usr/bin/env node
// A tree of many small files both ways through `podfiles serve`, whole commands, against `tar` piped
// into `tar -x` on the same filesystem in the same run: `podfiles put DIR` (the agent's tar
// extraction: every file fsynced before it takes its name) and `podfiles get DIR` (the client's
// extraction, no fsync), each into a fresh directory, interleaved with the baseline. The tree is
// the sync bench's shape: 10,000 files of 0–8 KiB in 100 directories. Every copy is compared with
// the source (SHA-256 of every file). tmpfs (/dev/shm) shows the software's own cost; the disk
// (os.tmpdir()) adds the filesystem's, which on this VM's ext4 is most of it (bench/README.md).
//   npm run build && node bench/small-files.mjs [--files N (10000)] [--reps N (3)] [--fs tmpfs,disk]
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { distReady, median, repoDir, startPodfiles, stopProcess, textTable } from "./lib.mjs";

const { values } = parseArgs({
  options: { files: { type: "string", default: "10000" }, reps: { type: "string", default: "3" }, fs: { type: "string", default: "tmpfs,disk" } },
});
if (!distReady()) throw new Error("build first: npm run build");
const files = Number(values.files);
const reps = Number(values.reps);
const bases = { tmpfs: "/dev/shm", disk: tmpdir() };
const bin = join(repoDir, "bin/podfiles.js");

function writeTree(root) {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `dir ${i % 100}`);
    if (i < 100) fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(join(dir, `file ${i}.bin`), randomBytes(Math.floor(Math.random() * 8192)));
  }
}

/** relative path → SHA-256 of every file below root */
function hashes(root) {
  const out = {};
  for (const rel of fs.readdirSync(root, { recursive: true })) {
    const abs = join(root, rel);
    if (fs.lstatSync(abs).isFile()) out[rel] = createHash("sha256").update(fs.readFileSync(abs)).digest("hex");
  }
  return out;
}

/** Runs a whole command; seconds of wall time. */
function timed(cmd, args, opts = {}) {
  const t0 = performance.now();
  const p = spawnSync(cmd, args, { encoding: "utf8", timeout: 600_000, ...opts });
  const seconds = (performance.now() - t0) / 1000;
  if (p.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${p.status} ${p.stderr}`);
  return seconds;
}

const rows = [];
for (const name of values.fs.split(",")) {
  const base = fs.mkdtempSync(join(bases[name], "podfiles-small-files-"));
  const src = join(base, "src");
  const root = join(base, "root");
  const local = join(base, "local");
  fs.mkdirSync(root);
  fs.mkdirSync(local);
  writeTree(src);
  const want = JSON.stringify(hashes(src));
  const same = (dir, what) => {
    if (JSON.stringify(hashes(dir)) !== want) throw new Error(`${what}: the copy differs from the source`);
  };
  const server = await startPodfiles(root);
  const times = { put: [], tarIn: [], get: [], tarOut: [] };
  try {
    for (let r = 0; r < reps; r++) {
      times.put.push(timed(process.execPath, [bin, "put", "--no-progress", src, `local/local/local:/put-${r}`, "--server", server.url]));
      same(join(root, `put-${r}`), "podfiles put");
      fs.mkdirSync(join(root, `tar-${r}`));
      times.tarIn.push(timed("sh", ["-c", 'tar -C "$1" -cf - . | tar -C "$2" -xf -', "sh", src, join(root, `tar-${r}`)]));
      times.get.push(timed(process.execPath, [bin, "get", "--no-progress", `local/local/local:/put-${r}`, join(local, `get-${r}`), "--server", server.url]));
      same(join(local, `get-${r}`), "podfiles get");
      fs.mkdirSync(join(local, `tar-${r}`));
      times.tarOut.push(timed("sh", ["-c", 'tar -C "$1" -cf - . | tar -C "$2" -xf -', "sh", join(root, `put-${r}`), join(local, `tar-${r}`)]));
    }
  } finally {
    await stopProcess(server.child);
    fs.rmSync(base, { recursive: true, force: true });
  }
  const s = (xs) => xs.map((x) => x.toFixed(2)).join(", ");
  rows.push([
    `${name}: podfiles put DIR (fsync per file)`,
    s(times.put),
    `tar | tar -x ${s(times.tarIn)}`,
    `${(median(times.put) / median(times.tarIn)).toFixed(2)}×`,
  ]);
  rows.push([`${name}: podfiles get DIR`, s(times.get), `tar | tar -x ${s(times.tarOut)}`, `${(median(times.get) / median(times.tarOut)).toFixed(2)}×`]);
}
const load = fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`\n${files} files of 0–8 KiB in 100 directories, ${reps} rep(s), whole commands, seconds; load average after ${load}\n`);
console.log(textTable(["way", "podfiles", "baseline, same run", "time ratio (median)"], rows));
