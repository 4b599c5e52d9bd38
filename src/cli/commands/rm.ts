// podfiles rm [-r] [-f] REMOTE...
import type { Command } from "commander";
import { Code, PodfilesError } from "../../client/errors.js";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { UsageError } from "./errors.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";

export interface RmOptions extends TargetOptions {
  targets: string[];
  recursive: boolean;
  force: boolean;
  verbose: boolean;
}

export interface ResolvedRm extends RmOptions {
  remotes: RemotePath[];
}

export function validateRm(o: RmOptions): ResolvedRm {
  const remotes = o.targets.map((t) => parseRemote(t, o));
  for (const r of remotes) {
    if (r.path.replace(/\/+/g, "/") === "/") throw new UsageError("refusing to remove the container's root");
  }
  return { ...o, remotes };
}

export async function runRm(o: ResolvedRm, { client }: Connection, io: Io): Promise<void> {
  for (const { container, path } of o.remotes) {
    try {
      await client.remove({ container, path }, { recursive: o.recursive });
      if (o.verbose) io.out.write(`removed ${path}\n`);
    } catch (err) {
      if (o.force && err instanceof PodfilesError && err.code === Code.NotFound) continue;
      throw err;
    }
  }
}

export function registerRm(program: Command): void {
  const cmd = program
    .command("rm")
    .description("remove files, symlinks or empty directories in a container (-r: directories and their contents)")
    .argument("<remote...>", REMOTE_SYNTAX)
    .option("-r, --recursive", "remove directories and everything below them")
    .option("-f, --force", "a missing path is not an error")
    .option("-v, --verbose", "print each removed path");
  addTargetOptions(cmd).action(
    action(
      ([...targets], opts) => ({ ...opts, targets, recursive: !!opts.recursive, force: !!opts.force, verbose: !!opts.verbose }) as RmOptions,
      validateRm,
      runRm,
      { recursive: "use -r to remove it" },
    ),
  );
}
