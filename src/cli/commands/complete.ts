// The hidden `podfiles __complete WORD...` the completion scripts call on every Tab: WORD... are
// the words after "podfiles", the last one being completed (empty after a space). It prints the
// candidates, one a line: command names, then a command's flags, then remote paths — one
// ListFiles of the directory being typed (`web-0:/etc/ng` lists /etc of web-0), each directory
// ending with "/". Nothing for a local path or a flag's value: the shell then completes files.
// Failures (no server, no such pod) print nothing; the listing gives up after 3 s.
import type { Command } from "commander";
import { FileType } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { SERVER_COMMANDS } from "../client-commands.js";
import { connect, type TargetOptions } from "./client.js";
import { isRemote, parseRemote } from "./remote-path.js";

const LIST_TIMEOUT_MS = 3000;

const visible = (program: Command) => program.commands.filter((c) => !(c as unknown as { _hidden: boolean })._hidden);

/** The names a command answers to: its own and the server's lazily registered ones. */
function commandNames(program: Command): string[] {
  const names = new Set(visible(program).map((c) => c.name()));
  for (const s of SERVER_COMMANDS) names.add(s);
  names.add("help");
  return [...names].sort();
}

function flagsOf(cmd: Command): string[] {
  const out: string[] = [];
  for (const o of cmd.options) {
    if (o.long) out.push(o.long);
    if (o.short) out.push(o.short);
  }
  out.push("--help");
  return out;
}

/** Options given so far that change where a listing goes (--server, -n, …). */
function targetOptions(cmd: Command, words: string[]): { opts: TargetOptions; expectsValue: boolean } {
  const opts: Record<string, string> = {};
  let expectsValue = false;
  for (let i = 0; i < words.length - 1; i++) {
    const w = words[i]!;
    const [flag, inline] = w.startsWith("--") && w.includes("=") ? [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)] : [w, undefined];
    const option = cmd.options.find((o) => o.long === flag || o.short === flag);
    if (!option || !(option.required || option.optional)) continue;
    const value = inline ?? words[i + 1];
    if (inline === undefined) {
      if (i + 1 === words.length - 1) expectsValue = true;
      i++;
    }
    if (value !== undefined) opts[option.attributeName()] = value;
  }
  return { opts: opts as TargetOptions, expectsValue };
}

export async function completions(program: Command, words: string[]): Promise<string[]> {
  const cur = words[words.length - 1] ?? "";
  if (words.length <= 1) return commandNames(program).filter((n) => n.startsWith(cur));
  const name = words[0]!;
  if (name === "completion") return words.length === 2 ? ["bash", "zsh", "fish"].filter((s) => s.startsWith(cur)) : [];
  const cmd = program.commands.find((c) => c.name() === name);
  if (!cmd) return [];
  if (cur.startsWith("-")) return flagsOf(cmd).filter((f) => f.startsWith(cur));
  const { opts, expectsValue } = targetOptions(cmd, words.slice(1));
  if (expectsValue || !isRemote(cur) || cur.startsWith("/") || cur.startsWith(".")) return [];
  return remotePaths(cur, opts);
}

async function remotePaths(cur: string, opts: TargetOptions): Promise<string[]> {
  const colon = cur.lastIndexOf(":");
  const typedPath = cur.slice(colon + 1);
  const slash = typedPath.lastIndexOf("/");
  const dirPart = slash < 0 ? "" : typedPath.slice(0, slash + 1); // as typed, kept in the candidates
  const partial = typedPath.slice(slash + 1);
  let remote;
  try {
    remote = parseRemote(`${cur.slice(0, colon)}:${dirPart || "/"}`, opts);
  } catch {
    return [];
  }
  const conn = await connect(opts).catch(() => undefined);
  if (!conn) return [];
  const prefix = `${cur.slice(0, colon + 1)}${dirPart || (typedPath.startsWith("/") || typedPath === "" ? "/" : "")}`;
  const out: string[] = [];
  try {
    const signal = AbortSignal.timeout(LIST_TIMEOUT_MS);
    for await (const e of conn.client.list(remote, { hidden: partial.startsWith("."), signal })) {
      if (!e.name.startsWith(partial)) continue;
      out.push(`${prefix}${e.name}${e.type === FileType.DIRECTORY ? "/" : ""}`);
    }
  } catch {
    return [];
  } finally {
    conn.close();
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export function registerComplete(program: Command): void {
  program
    .command("__complete", { hidden: true })
    .description("print the completions of a command line (for the completion scripts)")
    .argument("[words...]")
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .action(async () => {
      // the words as the shell gave them: commander would take the flags among them for its own
      const words = process.argv.slice(process.argv.indexOf("__complete") + 1);
      const out = await completions(program, words.length ? words : [""]);
      if (out.length) process.stdout.write(`${out.join("\n")}\n`);
    });
}
