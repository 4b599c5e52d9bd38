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
// is only reserved). libuv reads the variable once, when the pool starts, and Node's ESM loader
// has already started it to load this very file (measured: setting it here leaves 4 threads). So
// when it is unset, run the CLI in a child that has it, passing signals on and its exit status
// back. Set UV_THREADPOOL_SIZE in the environment to skip that hop (one node process, ~40 MiB).
const THREADPOOL_SIZE = "128";

if (process.env.UV_THREADPOOL_SIZE === undefined) {
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, UV_THREADPOOL_SIZE: THREADPOOL_SIZE },
  });
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
} else {
  const main = new URL("../dist/src/cli/main.js", import.meta.url);
  if (!existsSync(fileURLToPath(main))) {
    console.error("podfiles is not built yet: run `npm run build` (or `npm install`, which builds it) first.");
    process.exit(1);
  }
  await import(main.href);
}
