#!/usr/bin/env node
// The podfiles binary: runs the compiled CLI (npm run build compiles src/ into dist/). The client
// commands run from the bundle (dist/bundle, made by scripts/bundle-cli.mjs: faster start-up).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CLIENT_COMMANDS = new Set(["ls", "stat", "get", "put", "mv", "rm", "mkdir"]);
const bundle = new URL("../dist/bundle/client-main.js", import.meta.url);
const main = new URL("../dist/src/cli/main.js", import.meta.url);
const entry = CLIENT_COMMANDS.has(process.argv[2] ?? "") && existsSync(fileURLToPath(bundle)) ? bundle : main;
if (!existsSync(fileURLToPath(entry))) {
  console.error("podfiles is not built yet: run `npm run build` (or `npm install`, which builds it) first.");
  process.exit(1);
}
await import(entry.href);
