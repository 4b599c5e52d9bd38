// podfiles command line. The client commands (client-commands.ts: ls, stat, get, put, cp…) load only the
// SDK's client: the server stack (serve, agent) is imported only when one of those is run or
// when the full help is asked for (it cost every command 0.45–0.95 s of start-up).
import { tuneGc } from "./process-gc.js";
import { CLIENT_COMMANDS } from "./client-commands.js";
import { createProgram, runProgram } from "./program.js";

tuneGc(); // before any transfer (process-gc.ts)
const program = createProgram();
if (!CLIENT_COMMANDS.has(process.argv[2] ?? "")) {
  (await import("./commands/serve.js")).registerServe(program);
  (await import("./commands/agent.js")).registerAgent(program);
}
(await import("./commands/index.js")).registerFileCommands(program);

await runProgram(program);
