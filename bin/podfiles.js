#!/usr/bin/env node
// The podfiles binary: runs the compiled CLI (npm run build compiles src/ into dist/).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

// Filesystem calls on container paths run on libuv's threadpool (4 threads by default), and a call
// on a hung mount keeps its thread until the mount answers: 4 such calls would stall every file
// read, open and stat of the agent. 128 threads: the hang guard (src/fs/root/hang-guard.ts) lets at
// most half (64; 48 per container) be held by calls that have not answered for over a second, and
// the other 64 cover the busiest healthy load we measured (32 concurrent downloads, each with a
// read in flight and one read ahead). An idle pool thread costs a few KiB of RSS (its 8 MiB stack
// is only reserved). Set before anything queues work on the pool, which reads it once, on first use.
process.env.UV_THREADPOOL_SIZE ??= "128";

const main = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error("podfiles is not built yet: run `npm run build` (or `npm install`, which builds it) first.");
  process.exit(1);
}
await import(main.href);
