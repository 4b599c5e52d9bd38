// The podfiles program both entries share (main.ts, and client-main.ts for the bundled client
// commands): name, version, and commander's errors turned into the documented exit codes —
// 0 ok (and --help, --version), 1 the command failed, 2 usage (a missing argument, an unknown
// command or option), each error on one line.
import { Command, CommanderError } from "commander";
import { packageVersion } from "./version.js";

export function createProgram(): Command {
  const program = new Command();
  program
    .name("podfiles")
    .description("files inside Kubernetes containers, over gRPC and Connect")
    .version(packageVersion(), "-V, --version", "print the version and exit")
    .exitOverride()
    // one line: commander's message and where the usage is
    .configureOutput({ outputError: (text, write) => write(`podfiles: ${text.replace(/^error: /, "").trimEnd()} (see --help)\n`) });
  program
    .command("version")
    .description("print the version")
    .action(() => {
      process.stdout.write(`${packageVersion()}\n`);
    });
  return program;
}

/** Parses argv and runs the command; never rejects (sets the exit code). */
export async function runProgram(program: Command, argv: string[] = process.argv): Promise<void> {
  // the reader went away (`podfiles ls … | head`): stop quietly, as a program killed by SIGPIPE
  // would, instead of an unhandled 'error' event and its stack trace
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander printed its message already; its exit code 1 is a usage error here
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`podfiles: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
