#!/usr/bin/env node
// The podfiles binary: runs the compiled CLI (npm run build compiles src/ into dist/). The client
// commands run from the bundle (dist/bundle, made by scripts/bundle-cli.mjs: faster start-up).
//
// CommonJS on purpose (bin/package.json): it must set UV_THREADPOOL_SIZE before libuv's threadpool
// starts, and Node's ESM loader starts that pool to load an ES module entry (measured: set in an
// .mjs entry it leaves 4 threads; set here, 128 threads run). Filesystem calls on container paths
// run on that pool, and a call on a hung mount keeps its thread until the mount answers: 4 such
// calls would stall every file read, open and stat of the agent. 128 threads: the hang guard
// (src/fs/root/hang-guard.ts) lets at most half (64; 48 per container) be held by calls that have
// not answered for over a second, and the other 64 cover the busiest healthy load we measured (32
// concurrent downloads, each with a read in flight and one read ahead). An idle pool thread costs a
// few KiB of RSS (its 8 MiB stack is only reserved). A value set in the environment wins.
"use strict";
const { existsSync } = require("node:fs");
const { join } = require("node:path");
const { pathToFileURL } = require("node:url");

// the same list as src/cli/client-commands.ts (test/cli/exit-codes.spec.ts checks that they agree)
const CLIENT_COMMANDS = new Set([
  "ls",
  "stat",
  "get",
  "put",
  "mv",
  "rm",
  "mkdir",
  "cp",
  "cat",
  "find",
  "du",
  "tail",
  "sync",
  "version",
  "--version",
  "-V",
  "completion",
  "__complete",
]);
const bundle = join(__dirname, "..", "dist", "bundle", "client-main.js");
const main = join(__dirname, "..", "dist", "src", "cli", "main.js");
const client = CLIENT_COMMANDS.has(process.argv[2] ?? "") && existsSync(bundle);
if (!client) process.env.UV_THREADPOOL_SIZE ??= "128"; // the server's pool; a client command needs none of it

const entry = client ? bundle : main;
if (!existsSync(entry)) {
  console.error("podfiles is not built yet: run `npm run build` (or `npm install`, which builds it) first.");
  process.exit(1);
}
import(pathToFileURL(entry).href).catch((err) => {
  console.error(err);
  process.exit(1);
});
