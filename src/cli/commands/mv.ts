// podfiles mv [-f] REMOTE NEWPATH    (NEWPATH: a path in the same container, or a remote path naming it)
import type { Command } from "commander";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { UsageError } from "./errors.js";
import { REMOTE_SYNTAX, formatContainer, isRemote, parseRemote, remoteAbsolute, sameContainer, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";

export interface MvOptions extends TargetOptions {
  source: string;
  dest: string;
  force: boolean;
  verbose: boolean;
  from?: RemotePath;
  to?: string;
}

export function validateMv(o: MvOptions): void {
  o.from = parseRemote(o.source, o);
  if (isRemote(o.dest)) {
    const to = parseRemote(o.dest, o);
    if (!sameContainer(to.container, o.from.container)) {
      throw new UsageError(`mv moves within one container: ${formatContainer(o.from.container)} ≠ ${formatContainer(to.container)} (use get and put)`);
    }
    o.to = to.path;
  } else {
    o.to = remoteAbsolute(o.dest);
  }
  if (o.from.path === "/") throw new UsageError("cannot move the container's root");
}

export async function runMv(o: MvOptions, { client }: Connection, io: Io): Promise<void> {
  const entry = await client.rename(o.from!, o.to!, { overwrite: o.force });
  if (o.verbose) io.out.write(`${o.from!.path} -> ${entry?.path ?? o.to}\n`);
}

export function registerMv(program: Command): void {
  const cmd = program
    .command("mv")
    .description("move or rename an entry within one container (an existing target is kept unless -f)")
    .argument("<remote>", REMOTE_SYNTAX)
    .argument("<new-path>", "absolute path in the same container (or the same container's remote path)")
    .option("-f, --force", "replace an existing target")
    .option("-v, --verbose", "print what was moved");
  addTargetOptions(cmd).action(
    action(([source, dest], opts) => ({ ...opts, source: source!, dest: dest!, force: !!opts.force, verbose: !!opts.verbose }) as MvOptions, validateMv, runMv),
  );
}
