// Runs the built CLI (node bin/podfiles.js) as a child process. Async on
// purpose: the test server lives in this process and must keep answering.
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const repo = fileURLToPath(new URL("../..", import.meta.url));
const bin = join(repo, "bin/podfiles.js");

/** Builds dist/ (tsc, then the CLI bundle) when the client's or the CLI's sources are newer than the bundle (npm test has built already). */
export function ensureBuilt(): void {
  const bundle = join(repo, "dist/bundle/client-main.js");
  const built = existsSync(bundle) ? statSync(bundle).mtimeMs : 0;
  const stale = ["src/cli", "src/cli/commands", "src/client", "src"].some((dir) =>
    readdirSync(join(repo, dir))
      .filter((f) => f.endsWith(".ts") && !f.endsWith(".spec.ts"))
      .some((f) => statSync(join(repo, dir, f)).mtimeMs > built),
  );
  if (stale) {
    execFileSync(process.execPath, [join(repo, "node_modules/typescript/bin/tsc"), "-p", join(repo, "tsconfig.json")], { stdio: "inherit" });
    execFileSync(process.execPath, [join(repo, "scripts/bundle-cli.mjs")], { stdio: "inherit" });
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function cliEnv(server: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // the caller's own settings must not leak in; extra may set them again
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.PODFILES_TOKEN;
  delete env.PODFILES_NAMESPACE;
  return { ...env, PODFILES_SERVER: server, ...extra };
}

export function runCli(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env: opts.env, cwd: opts.cwd, maxBuffer: 64 << 20, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export function spawnCli(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }): ChildProcess {
  return spawn(process.execPath, [bin, ...args], { env: opts.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
}
