// podfiles tail [-n N] [-c OFFSET] [-f] REMOTE
import type { Command } from "commander";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { UsageError } from "./errors.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";
import { count } from "./units.js";
import { writeOut } from "./write-out.js";

export interface TailCliOptions extends TargetOptions {
  target: string;
  lines?: string;
  offset?: string;
  follow: boolean;
}

export interface ResolvedTail {
  remote: RemotePath;
  lines?: number;
  offset?: bigint;
  follow: boolean;
}

export function validateTail(o: TailCliOptions): ResolvedTail {
  const remote = parseRemote(o.target, o);
  if (o.lines !== undefined && o.offset !== undefined) throw new UsageError("-n and --offset do not go together");
  let offset: bigint | undefined;
  if (o.offset !== undefined) {
    if (!/^\d+$/.test(o.offset)) throw new UsageError(`--offset ${o.offset}: not a byte offset`);
    offset = BigInt(o.offset);
  }
  return { remote, lines: o.lines === undefined ? undefined : count(o.lines, "-n"), offset, follow: o.follow };
}

export async function runTail(o: ResolvedTail, { client }: Connection, io: Io): Promise<void> {
  const { container, path } = o.remote;
  const abort = new AbortController();
  // -f ends with Ctrl-C (or SIGTERM): the call is cancelled and the command exits 0
  const stop = () => abort.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    for await (const c of client.tail({ container, path }, { lines: o.lines, offset: o.offset, follow: o.follow, signal: abort.signal })) {
      if (c.notice === "rotated") io.err.write(`podfiles: ${path} was replaced; following the new file\n`);
      if (c.notice === "truncated") io.err.write(`podfiles: ${path}: file truncated\n`);
      if (c.data.length > 0 && !(await writeOut(io.out, c.data))) {
        abort.abort(); // the reader went away (| head)
        return;
      }
    }
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

export function registerTail(program: Command): void {
  const cmd = program
    .command("tail")
    .description("print the end of a file in a container; -f follows it across rotation and truncation")
    .argument("<remote>", `${REMOTE_SYNTAX}, e.g. web-0:/var/log/app.log`)
    .option("-n, --lines <n>", "the last N lines (default 10)")
    .option("--offset <bytes>", "start at this byte offset instead")
    .option("-f, --follow", "keep printing what is appended (Ctrl-C ends it)");
  addTargetOptions(cmd, { shortNamespace: false }).action(
    action(([target], opts) => ({ ...opts, target: target ?? "", follow: !!opts.follow }) as TailCliOptions, validateTail, runTail),
  );
}
