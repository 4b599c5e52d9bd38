// podfiles mv [-f] REMOTE NEWPATH    (NEWPATH: a path in the same container, or a remote path naming it)
// As mv(1): NEWPATH naming an existing directory (or ending with /) moves REMOTE into it.
import { posix } from "node:path";
import type { Command } from "commander";
import { FileType } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { Code, PodfilesError } from "../../client/errors.js";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { UsageError } from "./errors.js";
import { REMOTE_SYNTAX, formatContainer, isRemote, parseRemote, remoteAbsolute, remoteBasename, sameContainer, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";

export interface MvOptions extends TargetOptions {
  source: string;
  dest: string;
  force: boolean;
  verbose: boolean;
}

export interface ResolvedMv extends MvOptions {
  from: RemotePath;
  /** The new path, in the same container. */
  to: string;
}

export function validateMv(o: MvOptions): ResolvedMv {
  const from = parseRemote(o.source, o);
  let to: string;
  if (isRemote(o.dest)) {
    const dest = parseRemote(o.dest, o);
    if (!sameContainer(dest.container, from.container)) {
      throw new UsageError(`mv moves within one container: ${formatContainer(from.container)} ≠ ${formatContainer(dest.container)} (use get and put)`);
    }
    to = dest.path;
  } else {
    to = remoteAbsolute(o.dest);
  }
  if (from.path === "/") throw new UsageError("cannot move the container's root");
  return { ...o, from, to };
}

/** Where the entry goes: `to`, or inside it when it is a directory (followed if a symlink) or ends with /. */
async function destination(o: ResolvedMv, client: Connection["client"]): Promise<string> {
  const into = posix.join(o.to, remoteBasename(o.from.path));
  if (o.to.endsWith("/")) return into;
  try {
    const entry = await client.stat({ container: o.from.container, path: o.to }, { followSymlinks: true });
    return entry.type === FileType.DIRECTORY ? into : o.to;
  } catch (err) {
    if (err instanceof PodfilesError && err.code === Code.NotFound) return o.to;
    throw err;
  }
}

export async function runMv(o: ResolvedMv, { client }: Connection, io: Io): Promise<void> {
  const to = await destination(o, client);
  const entry = await client.rename(o.from, to, { overwrite: o.force });
  if (o.verbose) io.out.write(`${o.from.path} -> ${entry?.path ?? to}\n`);
}

export function registerMv(program: Command): void {
  const cmd = program
    .command("mv")
    .description("move or rename an entry within one container; into NEW-PATH when it is a directory (an existing target is kept unless -f)")
    .argument("<remote>", REMOTE_SYNTAX)
    .argument("<new-path>", "absolute path in the same container (or the same container's remote path)")
    .option("-f, --force", "replace an existing target")
    .option("-v, --verbose", "print what was moved");
  addTargetOptions(cmd).action(
    action(
      ([source, dest], opts) => ({ ...opts, source: source ?? "", dest: dest ?? "", force: !!opts.force, verbose: !!opts.verbose }) as MvOptions,
      validateMv,
      runMv,
      { overwrite: "use -f to replace it" },
    ),
  );
}
