// podfiles cat REMOTE...: the files' bytes to stdout, one after another (SHA-256 checked as
// every download is). A directory is refused: its download would be a tar stream.
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { Code, PodfilesError } from "../../client/errors.js";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";

export interface CatOptions extends TargetOptions {
  targets: string[];
}

export interface ResolvedCat extends CatOptions {
  remotes: RemotePath[];
}

export function validateCat(o: CatOptions): ResolvedCat {
  return { ...o, remotes: o.targets.map((t) => parseRemote(t, o)) };
}

export async function runCat(o: ResolvedCat, { client }: Connection, io: Io): Promise<void> {
  for (const remote of o.remotes) {
    const stream = client.download(remote);
    const info = await stream.info();
    if (info.format === "tar") {
      await stream.cancel();
      throw new PodfilesError(`${remote.path}: is a directory (cat reads files; podfiles get or cp copies a directory)`, Code.FailedPrecondition);
    }
    try {
      await pipeline(stream.toReadable(), io.out, { end: false });
    } catch (err) {
      // the reader went away (`podfiles cat big | head`): stop quietly, as cat(1) does on SIGPIPE
      if ((err as NodeJS.ErrnoException).code === "EPIPE") return;
      throw err;
    }
  }
}

export function registerCat(program: Command): void {
  const cmd = program.command("cat").description("print remote files to stdout").argument("<remote...>", REMOTE_SYNTAX);
  addTargetOptions(cmd).action(action(([...targets], opts) => ({ ...opts, targets }) as CatOptions, validateCat, runCat));
}
