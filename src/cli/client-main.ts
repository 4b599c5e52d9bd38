// The client commands alone (ls, stat, get, put, mv, rm, mkdir): what bin/podfiles.js runs for
// them, bundled into one file by scripts/bundle-cli.mjs (module loading was most of a small
// command's start-up: ~0.37 s of CPU unbundled against ~0.17 s bundled, node -e 0 ~0.09 s).
import { Command } from "commander";
import { registerFileCommands } from "./commands/index.js";

const program = new Command();
program.name("podfiles").description("files inside Kubernetes containers, over gRPC and Connect").showHelpAfterError();
registerFileCommands(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`podfiles: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
