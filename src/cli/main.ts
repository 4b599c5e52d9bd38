// podfiles command line.
import { Command } from "commander";
import { registerServe } from "./serve.js";

const program = new Command();
program.name("podfiles").description("files inside Kubernetes containers, over gRPC and Connect").showHelpAfterError();
registerServe(program);
(await import("./agent.js")).registerAgent(program);
(await import("./commands/index.js")).registerFileCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`podfiles: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
