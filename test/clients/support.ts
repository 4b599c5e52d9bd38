// Shared helpers for the independent-client suites: run a command with a
// timeout, install a pinned Go tool, seed the served root.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export const repoRoot = resolve(import.meta.dirname, "../..");
export const cacheDir = process.env.PODFILES_CACHE ?? join(homedir(), ".cache/podfiles");
export const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

export interface RunResult {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

/** Runs a command; with `check` (the default) a non-zero exit or a timeout throws with its output. */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: Buffer | string; check?: boolean } = {},
): Promise<RunResult> {
  const { timeoutMs = 60_000, check = true } = opts;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, env: { ...process.env, ...opts.env }, stdio: "pipe" });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} could not start: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const result = { stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString(), code };
      if (check && code !== 0) {
        const why = signal ? `killed by ${signal}${signal === "SIGKILL" ? ` after ${timeoutMs} ms` : ""}` : `exit ${code}`;
        reject(new Error(`${cmd} ${args.join(" ")}: ${why}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`));
      } else resolvePromise(result);
    });
    child.stdin.end(opts.input);
  });
}

/** Installs MODULE@VERSION with scripts/lib/go-tools.sh (once per version) and returns the binary's path. */
export async function goTool(name: string, spec: string, timeoutMs = 240_000): Promise<string> {
  await run("bash", ["-c", 'source scripts/lib/go-tools.sh && go_tool "$1" "$2"', "go-tool", name, spec], { timeoutMs });
  return join(cacheDir, "gobin", name);
}

export const HELLO = "hello podfiles\n";

/** Seeds ROOT/seed with hello.txt, random.bin (`size` random bytes) and sub/; returns random.bin's content. */
export function seedRoot(root: string, size = 3 * 1024 * 1024 + 7): Buffer {
  const random = randomBytes(size);
  mkdirSync(join(root, "seed/sub"), { recursive: true });
  writeFileSync(join(root, "seed/hello.txt"), HELLO);
  writeFileSync(join(root, "seed/random.bin"), random);
  return random;
}

/** Parses concatenated JSON values (grpcurl prints one pretty-printed object per message). */
export function parseJsonSeq(text: string): unknown[] {
  const out: unknown[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") {
      if (depth++ === 0) start = i;
    } else if (c === "}" || c === "]") {
      if (--depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
    }
  }
  if (depth !== 0 || inString) throw new Error(`unterminated JSON in:\n${text}`);
  return out;
}
