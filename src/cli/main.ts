// podfiles command line. The client commands (ls, stat, get, put, mv, rm, mkdir) load only the
// SDK's client: the server stack (serve, agent) is imported only when one of those is run or
// when the full help is asked for (it cost every command 0.45–0.95 s of start-up).
import { Command } from "commander";

const CLIENT_COMMANDS = new Set(["ls", "stat", "get", "put", "mv", "rm", "mkdir"]);

const program = new Command();
program.name("podfiles").description("files inside Kubernetes containers, over gRPC and Connect").showHelpAfterError();
if (!CLIENT_COMMANDS.has(process.argv[2] ?? "")) {
  (await import("./commands/serve.js")).registerServe(program);
  (await import("./commands/agent.js")).registerAgent(program);
}
(await import("./commands/index.js")).registerFileCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`podfiles: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
