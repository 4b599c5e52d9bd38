// podfiles du [-h] [-b] [-d N] [-s] [--apparent-size] [--json] REMOTE
import type { Command } from "commander";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { UsageError } from "./errors.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";
import { count, humanSize } from "./units.js";
import { writeOut } from "./write-out.js";

export interface DuOptions extends TargetOptions {
  target: string;
  human: boolean;
  bytes: boolean;
  maxDepth?: string;
  summarize: boolean;
  apparentSize: boolean;
  json: boolean;
}

export interface ResolvedDu {
  remote: RemotePath;
  /** levels to print; undefined = all */
  depth?: number;
  apparentSize: boolean;
  format: "human" | "bytes" | "kib" | "json";
}

export function validateDu(o: DuOptions): ResolvedDu {
  const remote = parseRemote(o.target, o);
  if (o.summarize && o.maxDepth !== undefined) throw new UsageError("-s and -d do not go together (-s is -d 0)");
  const depth = o.summarize ? 0 : o.maxDepth === undefined ? undefined : count(o.maxDepth, "-d");
  const format = o.json ? "json" : o.human ? "human" : o.bytes ? "bytes" : "kib";
  // -b is du's --apparent-size --block-size=1
  return { remote, depth, apparentSize: o.apparentSize || o.bytes, format };
}

const kib = (b: bigint) => ((b + 1023n) / 1024n).toString();

export async function runDu(o: ResolvedDu, { client }: Connection, io: Io): Promise<void> {
  const { container, path } = o.remote;
  const abort = new AbortController();
  // the server's max_depth 0 means "all": depth 0 (-s) asks for 1 and prints only the top
  const maxDepth = o.depth === undefined ? 0 : Math.max(o.depth, 1);
  for await (const e of client.diskUsage({ container, path }, { maxDepth, apparentSize: o.apparentSize, signal: abort.signal })) {
    if (o.depth !== undefined && e.depth > o.depth) continue;
    const size = o.format === "human" ? humanSize(e.bytes) : o.format === "bytes" ? e.bytes.toString() : kib(e.bytes);
    const line =
      o.format === "json"
        ? JSON.stringify({ path: e.path, bytes: Number(e.bytes), files: Number(e.files), directories: Number(e.directories), depth: e.depth })
        : `${size}\t${e.path}`;
    if (!(await writeOut(io.out, `${line}\n`))) {
      abort.abort();
      return;
    }
  }
}

export function registerDu(program: Command): void {
  const cmd = program
    .command("du")
    .description("disk usage of a directory of a container, per directory, children before parents (streamed)")
    .argument("<remote>", `${REMOTE_SYNTAX}, e.g. web-0:/var`)
    .helpOption("--help", "display help for command") // -h is du's human-readable sizes
    .option("-h, --human-readable", "sizes as 4.0K, 1.2M, 3G")
    .option("-b, --bytes", "apparent sizes in bytes")
    .option("-d, --max-depth <n>", "print directories down to N levels below REMOTE (totals count everything)")
    .option("-s, --summarize", "print only REMOTE's total")
    .option("--apparent-size", "sum file sizes instead of allocated blocks")
    .option("--json", "print one JSON object per line (bytes, files, directories, depth)");
  addTargetOptions(cmd).action(
    action(
      ([target], opts) =>
        ({
          ...opts,
          target: target ?? "",
          human: !!opts.humanReadable,
          bytes: !!opts.bytes,
          summarize: !!opts.summarize,
          apparentSize: !!opts.apparentSize,
          json: !!opts.json,
        }) as DuOptions,
      validateDu,
      runDu,
    ),
  );
}
