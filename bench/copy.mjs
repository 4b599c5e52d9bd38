#!/usr/bin/env node
// Copy between pods on two nodes against the seed-002 way (kubectl cp out of the source pod to this
// machine, then kubectl cp into the destination pod), 256 MiB, same run, interleaved, on the real
// cluster of scripts/cluster.sh. The measurement is the bench case of test/e2e/copy.spec.ts, which
// deploys the agents of this checkout (build first) and the two pods (source on localhost, destination
// on node-b, in two namespaces) and checks every copy with sha256sum in the destination pod; this
// script runs it under the shared e2e lock and prints MiB/s per way. A benchmark, not a test.
//   npm run build && node bench/copy.mjs [--reps N (2)]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { distReady, median, repoDir, textTable } from "./lib.mjs";

const { values } = parseArgs({ options: { reps: { type: "string", default: "2" } } });
if (!distReady()) throw new Error("build first: npm run build (the agents' image is made from dist/)");
const dir = mkdtempSync(join(tmpdir(), "podfiles-copy-bench-"));
const out = join(dir, "result.json");
try {
  const code = await new Promise((resolve) => {
    const child = spawn(
      "flock",
      ["/tmp/podfiles-e2e.lock", "npx", "vitest", "run", "--config", "vitest.e2e.config.ts", "test/e2e/copy.spec.ts", "-t", "bench"],
      {
        cwd: repoDir,
        stdio: ["ignore", "inherit", "inherit"],
        env: { ...process.env, PODFILES_KEEP_CLUSTER: "1", PODFILES_COPY_BENCH: out, PODFILES_COPY_BENCH_REPS: values.reps },
      },
    );
    // the whole run (deploy, 2 × reps copies of 256 MiB, teardown) has a deadline
    const timer = setTimeout(() => child.kill("SIGTERM"), 30 * 60_000);
    child.on("exit", (c) => (clearTimeout(timer), resolve(c)));
  });
  if (code !== 0) throw new Error(`the bench case failed (exit ${code})`);
  const { sizeMiB, rows } = JSON.parse(readFileSync(out, "utf8"));
  const ways = [...new Set(rows.map((r) => r.way))];
  const table = ways.map((way) => {
    const secs = rows.filter((r) => r.way === way).map((r) => r.seconds);
    return [way, secs.map((s) => (sizeMiB / s).toFixed(1)).join(", "), (sizeMiB / median(secs)).toFixed(1)];
  });
  console.log(`\n${sizeMiB} MiB, localhost → node-b, ${values.reps} rep(s) each\n`);
  console.log(textTable(["way", "MiB/s per run", "MiB/s (median)"], table));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
