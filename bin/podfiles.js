#!/usr/bin/env node
// The podfiles binary: runs the compiled CLI (npm run build compiles src/ into dist/).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error("podfiles is not built yet: run `npm run build` (or `npm install`, which builds it) first.");
  process.exit(1);
}
await import(main.href);
