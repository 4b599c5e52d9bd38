// podfiles ls [-l] [-a] [-R] [--json] REMOTE
import type { Command } from "commander";
import { posix } from "node:path";
import { FileType, type FileEntry } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { entryJson, longLines } from "./format.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";
import { UsageError } from "./errors.js";

export interface LsOptions extends TargetOptions {
  target: string;
  long: boolean;
  all: boolean;
  recursive: boolean;
  json: boolean;
  directory: boolean;
  maxDepth: number;
}

export interface ResolvedLs extends LsOptions {
  remote: RemotePath;
}

export function validateLs(o: LsOptions): ResolvedLs {
  const remote = parseRemote(o.target, o);
  if (!Number.isInteger(o.maxDepth) || o.maxDepth < 0) throw new UsageError(`--max-depth ${o.maxDepth}: not a number of levels`);
  if (o.maxDepth > 0 && !o.recursive) throw new UsageError("--max-depth goes with -R");
  return { ...o, remote };
}

export async function runLs(o: ResolvedLs, { client }: Connection, io: Io): Promise<void> {
  const { container, path } = o.remote;
  // lstat first: a file (or a symlink, with -l or -d) lists as itself, like ls does.
  const self = await client.stat({ container, path });
  let isDir = self.type === FileType.DIRECTORY;
  if (!isDir && self.type === FileType.SYMLINK && !o.long && !o.directory) {
    isDir = (await client.stat({ container, path }, { followSymlinks: true })).type === FileType.DIRECTORY;
  }
  let entries: FileEntry[];
  let nameOf: (e: FileEntry) => string = (e) => e.name;
  if (!isDir || o.directory) {
    entries = [self];
    nameOf = () => o.target.slice(o.target.indexOf(":") + 1) || "/";
  } else {
    entries = [];
    const base = path.replace(/(.)\/+$/, "$1");
    for await (const entry of client.list({ container, path }, { hidden: o.all, recursive: o.recursive, maxDepth: o.maxDepth })) entries.push(entry);
    if (o.recursive) nameOf = (e) => posix.relative(base, e.path) || e.name;
    else entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  if (o.json) {
    io.out.write(JSON.stringify(entries.map(entryJson), null, 2) + "\n");
    return;
  }
  const lines = o.long ? longLines(entries, nameOf) : entries.map(nameOf);
  if (lines.length) io.out.write(lines.join("\n") + "\n");
}

export function registerLs(program: Command): void {
  const cmd = program
    .command("ls")
    .description("list a directory in a container")
    .argument("<remote>", `${REMOTE_SYNTAX}, e.g. web-0:/var/log`)
    .option("-l, --long", "long format: mode, links, user, group, size, mtime, name -> target")
    .option("-a, --all", "include names starting with a dot")
    .option("-R, --recursive", "list subdirectories too (names relative to REMOTE)")
    .option("--max-depth <n>", "with -R: levels below REMOTE (0 = no limit)", (v) => Number(v), 0)
    .option("-d, --directory", "list the directory itself, not its contents")
    .option("--json", "print a JSON array of entries");
  addTargetOptions(cmd).action(
    action(
      ([target], opts) =>
        ({
          ...opts,
          target: target ?? "",
          long: !!opts.long,
          all: !!opts.all,
          recursive: !!opts.recursive,
          json: !!opts.json,
          directory: !!opts.directory,
          maxDepth: Number(opts.maxDepth ?? 0),
        }) as LsOptions,
      validateLs,
      runLs,
    ),
  );
}
