#!/usr/bin/env node
// Completion of `kubectl podfiles …` (kubectl ≥ 1.26 runs kubectl_complete-podfiles WORD... on Tab
// and reads cobra's format: one candidate a line, then ":DIRECTIVE"). The candidates come from
// `podfiles __complete`; none lets the shell complete file names (directive 0), a directory
// candidate ("…/") asks for no space after it (2) and for no file names (4).
"use strict";
const { execFileSync } = require("node:child_process");
const { join } = require("node:path");

let out = "";
try {
  out = execFileSync(process.execPath, [join(__dirname, "podfiles.js"), "__complete", ...process.argv.slice(2)], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
} catch {
  out = "";
}
const lines = out.split("\n").filter(Boolean);
const directive = lines.length === 0 ? 0 : lines.some((l) => l.endsWith("/")) ? 2 | 4 : 4;
process.stdout.write(`${lines.map((l) => `${l}\n`).join("")}:${directive}\n`);
