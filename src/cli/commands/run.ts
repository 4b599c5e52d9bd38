// Runs a command's Validate → Run and turns any failure into one line on
// stderr and a non-zero exit code (2 for usage errors, 1 otherwise).
import { connect, type Connection, type ConnectionOptions } from "./client.js";
import { exitCodeFor, formatError } from "./errors.js";

export interface Io {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export const processIo = (): Io => ({ out: process.stdout, err: process.stderr });

/** Validate (may throw UsageError), connect, run, close; never throws. */
export async function runCommand<O extends ConnectionOptions>(
  o: O,
  validate: (o: O) => void,
  run: (o: O, conn: Connection, io: Io) => Promise<void>,
  io: Io = processIo(),
): Promise<number> {
  let conn: Connection | undefined;
  try {
    validate(o);
    conn = connect(o);
    await run(o, conn, io);
    return 0;
  } catch (err) {
    io.err.write(`podfiles: ${formatError(err)}\n`);
    return exitCodeFor(err);
  } finally {
    conn?.close();
  }
}

/** A commander action that runs and sets process.exitCode. */
export function action<O extends ConnectionOptions>(
  build: (args: string[], opts: Record<string, unknown>) => O,
  validate: (o: O) => void,
  run: (o: O, conn: Connection, io: Io) => Promise<void>,
) {
  return async (...params: unknown[]) => {
    // commander passes the positional arguments, then the options, then the command.
    const cmdIndex = params.length - 1;
    const opts = params[cmdIndex - 1] as Record<string, unknown>;
    const args = params.slice(0, cmdIndex - 1).flat() as string[];
    let o: O;
    try {
      o = build(args, opts);
    } catch (err) {
      process.stderr.write(`podfiles: ${formatError(err)}\n`);
      process.exitCode = exitCodeFor(err);
      return;
    }
    const code = await runCommand(o, validate, run);
    if (code !== 0) process.exitCode = code;
  };
}
