#!/usr/bin/env node
// podfiles sync of a 10,000-file tree (0–8 KiB each) with 1% changed against kubectl cp of the whole
// tree, into a pod on the real cluster of scripts/cluster.sh, from this machine with only a kubeconfig
// (the agents reached through API-server tunnels), whole commands, interleaved, same run. The
// measurement is the bench case of test/e2e/sync.spec.ts, which deploys the agents of this checkout
// (build first) and checks the synced tree against kubectl cp's copy with sha256sum in the pod; this
// script runs it under the shared e2e lock and prints seconds per way. A benchmark, not a test.
//   npm run build && node bench/sync.mjs [--reps N (3)]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { distReady, median, repoDir, textTable } from "./lib.mjs";

const { values } = parseArgs({ options: { reps: { type: "string", default: "3" } } });
if (!distReady()) throw new Error("build first: npm run build (the agents' image is made from dist/)");
const dir = mkdtempSync(join(tmpdir(), "podfiles-sync-bench-"));
const out = join(dir, "result.json");
try {
  const code = await new Promise((resolve) => {
    const child = spawn(
      "flock",
      ["/tmp/podfiles-e2e.lock", "npx", "vitest", "run", "--config", "vitest.e2e.config.ts", "test/e2e/sync.spec.ts", "-t", "bench"],
      {
        cwd: repoDir,
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, PODFILES_KEEP_CLUSTER: "1", PODFILES_SYNC_BENCH: out, PODFILES_SYNC_BENCH_REPS: values.reps },
      },
    );
    // the whole run (deploy, the first sync, reps × (sync + kubectl cp), teardown) has a deadline
    const timer = setTimeout(() => child.kill("SIGTERM"), 60 * 60_000);
    child.on("exit", (c) => (clearTimeout(timer), resolve(c)));
  });
  if (code !== 0) throw new Error(`the bench case failed (exit ${code})`);
  const { files, bytes, rows } = JSON.parse(readFileSync(out, "utf8"));
  const ways = [...new Set(rows.map((r) => r.way))];
  const medians = Object.fromEntries(ways.map((way) => [way, median(rows.filter((r) => r.way === way).map((r) => r.seconds))]));
  const table = ways.map((way) => [
    way,
    rows
      .filter((r) => r.way === way)
      .map((r) => r.seconds.toFixed(2))
      .join(", "),
    medians[way].toFixed(2),
  ]);
  console.log(`\n${files} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB, this machine → a pod on localhost, ${values.reps} rep(s) each\n`);
  console.log(textTable(["way", "seconds per run", "median"], table));
  const cp = "kubectl cp (whole tree)";
  for (const sync of ways.filter((w) => w !== cp)) console.log(`${cp} / ${sync}: ${(medians[cp] / medians[sync]).toFixed(1)}×`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
