// podfiles stat [-L] [--json] REMOTE
import type { Command } from "commander";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { entryJson, statText } from "./format.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";

export interface StatOptions extends TargetOptions {
  target: string;
  dereference: boolean;
  json: boolean;
}

export interface ResolvedStat extends StatOptions {
  remote: RemotePath;
}

export function validateStat(o: StatOptions): ResolvedStat {
  return { ...o, remote: parseRemote(o.target, o) };
}

export async function runStat(o: ResolvedStat, { client }: Connection, io: Io): Promise<void> {
  const { container, path } = o.remote;
  const entry = await client.stat({ container, path }, { followSymlinks: o.dereference });
  io.out.write((o.json ? JSON.stringify(entryJson(entry), null, 2) : statText(entry)) + "\n");
}

export function registerStat(program: Command): void {
  const cmd = program
    .command("stat")
    .description("show one entry of a container (type, size, mode, owner, mtime)")
    .argument("<remote>", REMOTE_SYNTAX)
    .option("-L, --dereference", "follow a final symlink (inside the container)")
    .option("--json", "print a JSON object");
  addTargetOptions(cmd).action(
    action(([target], opts) => ({ ...opts, target: target ?? "", dereference: !!opts.dereference, json: !!opts.json }) as StatOptions, validateStat, runStat),
  );
}
