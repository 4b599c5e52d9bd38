// A PATH directory holding podfiles, kubectl-podfiles and kubectl_complete-podfiles (links to
// bin/), as `npm install -g podfiles` lays them out: what the shells and kubectl look up.
import { execFileSync } from "node:child_process";
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repo } from "./run-cli.js";

export function installedBinDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "podfiles-bin-"));
  for (const [name, file] of [
    ["podfiles", "podfiles.js"],
    ["kubectl-podfiles", "kubectl-podfiles.js"],
    ["kubectl_complete-podfiles", "kubectl_complete-podfiles.js"],
  ]) {
    symlinkSync(join(repo, "bin", file!), join(dir, name!));
  }
  return dir;
}

/** The absolute path of a program on PATH, or undefined. */
export function which(name: string, path = process.env.PATH ?? ""): string | undefined {
  try {
    return execFileSync("bash", ["-c", `command -v ${name}`], { encoding: "utf8", env: { PATH: path } }).trim() || undefined;
  } catch {
    return undefined;
  }
}
