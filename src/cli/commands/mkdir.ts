// podfiles mkdir [-p] [--mode 0755] REMOTE...
import type { Command } from "commander";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";
import { parseMode } from "./mode.js";

export interface MkdirOptions extends TargetOptions {
  targets: string[];
  parents: boolean;
  mode?: string;
  verbose: boolean;
}

export interface ResolvedMkdir extends MkdirOptions {
  remotes: RemotePath[];
  modeBits: number | undefined;
}

export function validateMkdir(o: MkdirOptions): ResolvedMkdir {
  return { ...o, remotes: o.targets.map((t) => parseRemote(t, o)), modeBits: o.mode === undefined ? undefined : parseMode(o.mode) };
}

export async function runMkdir(o: ResolvedMkdir, { client }: Connection, io: Io): Promise<void> {
  for (const { container, path } of o.remotes) {
    const entry = await client.mkdir({ container, path }, { parents: o.parents, mode: o.modeBits });
    if (o.verbose) io.out.write(`created ${entry?.path ?? path}\n`);
  }
}

export function registerMkdir(program: Command): void {
  const cmd = program
    .command("mkdir")
    .description("create directories in a container")
    .argument("<remote...>", REMOTE_SYNTAX)
    .option("-p, --parents", "create missing parents; an existing directory is not an error")
    .option("-m, --mode <octal>", "permission bits (default 0755)")
    .option("-v, --verbose", "print each created directory");
  addTargetOptions(cmd).action(
    action(([...targets], opts) => ({ ...opts, targets, parents: !!opts.parents, verbose: !!opts.verbose }) as MkdirOptions, validateMkdir, runMkdir),
  );
}
