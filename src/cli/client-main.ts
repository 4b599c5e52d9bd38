// The client commands alone (ls, stat, get, put, mv, rm, mkdir, cp, cat…): what bin/podfiles.js runs for
// them, bundled into one file by scripts/bundle-cli.mjs (module loading was most of a small
// command's start-up: ~0.37 s of CPU unbundled against ~0.17 s bundled, node -e 0 ~0.09 s).
import { tuneGc } from "./process-gc.js";
import { registerFileCommands } from "./commands/index.js";
import { createProgram, runProgram } from "./program.js";

tuneGc(); // before any transfer (process-gc.ts)
const program = createProgram();
registerFileCommands(program);
await runProgram(program);
