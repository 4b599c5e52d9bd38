// Start-up of a small client command, whole processes (issue 12: ≤ 150 ms over `node -e 0`):
// `node -e 0`, `podfiles ls` and `podfiles stat` against a running `podfiles serve` (an empty
// root plus one file), interleaved, 10 runs each (at most 20); wall time from performance.now()
// around spawnSync, and user+sys CPU from /usr/bin/time. Medians.
//   node bench/cli-startup.mjs [--runs N]
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, repoDir, startPodfiles, stopProcess } from "./lib.mjs";

const i = process.argv.indexOf("--runs");
const runs = Math.min(i > 0 ? Number(process.argv[i + 1]) : 10, 20);
const root = fs.mkdtempSync(join(tmpdir(), "podfiles-startup-"));
fs.writeFileSync(join(root, "hello.txt"), "hello");
const server = await startPodfiles(root);
try {
  const bin = join(repoDir, "bin/podfiles.js");
  const cases = {
    "node -e 0": ["-e", "0"],
    "podfiles ls local/local:/": [bin, "ls", "local/local:/", "--server", server.url],
    "podfiles stat local/local:/hello.txt": [bin, "stat", "local/local:/hello.txt", "--server", server.url],
  };
  const wall = {};
  const cpu = {};
  for (let r = 0; r < runs; r++) {
    for (const [name, args] of Object.entries(cases)) {
      const t0 = performance.now();
      const p = spawnSync("/usr/bin/time", ["-f", "TIME %U %S", process.execPath, ...args], { encoding: "utf8" });
      const ms = performance.now() - t0;
      if (p.status !== 0) throw new Error(`${name}: exit ${p.status}: ${p.stderr}`);
      const [, u, s] = /TIME (\S+) (\S+)/.exec(p.stderr);
      (wall[name] ??= []).push(ms);
      (cpu[name] ??= []).push((Number(u) + Number(s)) * 1000);
    }
  }
  const base = median(wall["node -e 0"]);
  const baseCpu = median(cpu["node -e 0"]);
  const load = fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(`${runs} runs each, medians; Node ${process.version}; load average after ${load}`);
  for (const name of Object.keys(cases)) {
    const w = median(wall[name]);
    const c = median(cpu[name]);
    console.log(
      `${name.padEnd(40)} wall ${w.toFixed(0).padStart(5)} ms (+${(w - base).toFixed(0)})   cpu ${c.toFixed(0).padStart(5)} ms (+${(c - baseCpu).toFixed(0)})`,
    );
  }
} finally {
  await stopProcess(server.child);
  fs.rmSync(root, { recursive: true, force: true });
}
