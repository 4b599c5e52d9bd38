// Every command has the shape of kubectl's (cmd/cp and the others): Complete (the flags and
// arguments into options, defaults filled in) → Validate (options into a resolved type, or a
// UsageError) → Run (on the resolved type only). runCommand turns any failure into one line on
// stderr and a non-zero exit code (2 for usage errors, 1 otherwise).
import { connect, connectionMode, type Connection, type ConnectionOptions } from "./client.js";
import { exitCodeFor, formatError, type FlagHints } from "./errors.js";

export interface Io {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

export const processIo = (): Io => ({ out: process.stdout, err: process.stderr });

/** Validate (may throw UsageError), connect, run, close; never throws. */
export async function runCommand<O extends ConnectionOptions & { namespace?: string }, R>(
  o: O,
  validate: (o: O) => R,
  run: (r: R, conn: Connection, io: Io) => Promise<void>,
  io: Io = processIo(),
  hints: FlagHints = {},
): Promise<number> {
  let conn: Connection | undefined;
  try {
    const mode = connectionMode(o);
    let resolved: R | undefined;
    // usage errors first, before any connection; with a kubeconfig the paths wait for its context's namespace
    if (mode.kind === "server" || o.namespace || process.env.PODFILES_NAMESPACE) resolved = validate(o);
    conn = await connect(o);
    resolved ??= validate({ ...o, namespace: conn.contextNamespace });
    await run(resolved, conn, io);
    return 0;
  } catch (err) {
    io.err.write(`podfiles: ${formatError(err, hints)}\n`);
    return exitCodeFor(err);
  } finally {
    conn?.close();
  }
}

/** A commander action that runs and sets process.exitCode. */
export function action<O extends ConnectionOptions & { namespace?: string }, R>(
  complete: (args: string[], opts: Record<string, unknown>) => O,
  validate: (o: O) => R,
  run: (r: R, conn: Connection, io: Io) => Promise<void>,
  hints: FlagHints = {},
) {
  return async (...params: unknown[]) => {
    // commander passes the positional arguments, then the options, then the command.
    const cmdIndex = params.length - 1;
    const opts = params[cmdIndex - 1] as Record<string, unknown>;
    const args = params.slice(0, cmdIndex - 1).flat() as string[];
    let o: O;
    try {
      o = complete(args, opts);
    } catch (err) {
      process.stderr.write(`podfiles: ${formatError(err)}\n`);
      process.exitCode = exitCodeFor(err);
      return;
    }
    const code = await runCommand(o, validate, run, processIo(), hints);
    if (code !== 0) process.exitCode = code;
  };
}
