// podfiles find REMOTE [--name GLOB] [--regex RE] [--type f,d,l,p,s,c,b] [--min-size S] [--max-size S]
//   [--newer AGE|DATE] [--older AGE|DATE] [--max-depth N] [--limit N] [--digest sha256|crc32] [--json]
import type { Command } from "commander";
import { FileType } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { UsageError } from "./errors.js";
import { entryJson } from "./format.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";
import { count, parseSize, parseTime } from "./units.js";
import { writeOut } from "./write-out.js";

export interface FindCliOptions extends TargetOptions {
  target: string;
  name?: string;
  regex?: string;
  type?: string;
  minSize?: string;
  maxSize?: string;
  newer?: string;
  older?: string;
  maxDepth?: string;
  limit?: string;
  digest?: string;
  json: boolean;
}

export interface ResolvedFind {
  remote: RemotePath;
  json: boolean;
  query: {
    name?: string;
    regex?: string;
    types: FileType[];
    minSize?: bigint;
    maxSize?: bigint;
    modifiedAfter?: Date;
    modifiedBefore?: Date;
    maxDepth: number;
    limit: number;
    digest?: "sha256" | "crc32";
  };
}

const typeLetters: Record<string, FileType> = {
  f: FileType.REGULAR,
  d: FileType.DIRECTORY,
  l: FileType.SYMLINK,
  p: FileType.FIFO,
  s: FileType.SOCKET,
  c: FileType.CHAR_DEVICE,
  b: FileType.BLOCK_DEVICE,
};

export function validateFind(o: FindCliOptions): ResolvedFind {
  const remote = parseRemote(o.target, o);
  const types = (o.type ?? "")
    .split(",")
    .filter(Boolean)
    .map((t) => {
      const type = typeLetters[t];
      if (type === undefined) throw new UsageError(`--type ${t}: use f, d, l, p, s, c or b (comma-separated)`);
      return type;
    });
  if (o.digest !== undefined && o.digest !== "sha256" && o.digest !== "crc32") throw new UsageError(`--digest ${o.digest}: use sha256 or crc32`);
  return {
    remote,
    json: o.json,
    query: {
      name: o.name,
      regex: o.regex,
      types,
      minSize: o.minSize === undefined ? undefined : parseSize(o.minSize, "--min-size"),
      maxSize: o.maxSize === undefined ? undefined : parseSize(o.maxSize, "--max-size"),
      modifiedAfter: o.newer === undefined ? undefined : new Date(parseTime(o.newer, "--newer")),
      modifiedBefore: o.older === undefined ? undefined : new Date(parseTime(o.older, "--older")),
      maxDepth: count(o.maxDepth, "--max-depth"),
      limit: count(o.limit, "--limit"),
      digest: o.digest as ResolvedFind["query"]["digest"],
    },
  };
}

export async function runFind(o: ResolvedFind, { client }: Connection, io: Io): Promise<void> {
  const { container, path } = o.remote;
  const abort = new AbortController();
  for await (const m of client.find({ container, path }, { ...o.query, signal: abort.signal })) {
    const entry = m.entry!;
    const digest = Buffer.from(m.digest).toString("hex");
    let line: string;
    if (o.json) line = JSON.stringify(o.query.digest ? { ...entryJson(entry), digest: digest || null } : entryJson(entry));
    else line = o.query.digest ? `${digest || "-"}  ${entry.path}` : entry.path;
    if (!(await writeOut(io.out, `${line}\n`))) {
      abort.abort(); // the reader went away (| head): stop the walk on the server
      return;
    }
  }
}

export function registerFind(program: Command): void {
  const cmd = program
    .command("find")
    .description("find entries below a directory of a container by name, path, type, size and age (streamed)")
    .argument("<remote>", `${REMOTE_SYNTAX}, e.g. web-0:/var/log`)
    .option("--name <glob>", "shell glob on the base name, as find -name ('*.log')")
    .option("--regex <re>", "JavaScript regular expression on the path below REMOTE (no backreferences or lookaround)")
    .option("--type <letters>", "f regular, d directory, l symlink, p fifo, s socket, c/b devices; comma-separated")
    .option("--min-size <size>", "at least this size (512, 10k, 1.5M, 2G)")
    .option("--max-size <size>", "at most this size")
    .option("--newer <age|date>", "modified after: an age (90s, 15m, 2h, 7d) or a date")
    .option("--older <age|date>", "modified before: an age or a date")
    .option("--max-depth <n>", "levels below REMOTE (0 = no limit)")
    .option("--limit <n>", "stop after this many matches")
    .option("--digest <algorithm>", "print the sha256 or crc32 of each regular file before its path")
    .option("--json", "print one JSON object per line");
  addTargetOptions(cmd).action(action(([target], opts) => ({ ...opts, target: target ?? "", json: !!opts.json }) as FindCliOptions, validateFind, runFind));
}
