// podfiles completion bash|zsh|fish, exercised by the shells themselves against a real server:
// commands, flags, remote paths (one ListFiles per Tab), and file names left to the shell.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { cliEnv, ensureBuilt } from "./run-cli.js";
import { installedBinDir, which } from "./shell-path.js";

let server: TestServer;
let env: NodeJS.ProcessEnv;
let bin: string;
const calls: string[] = [];

function sh(shell: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(shell, args, { env, encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Runs bash's completion function on COMP_WORDS (bash's own split: ":" is a word break) and prints COMPREPLY one a line. */
const bashComplete = (...words: string[]) =>
  sh("bash", [
    "-c",
    `source <(podfiles completion bash)
     COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
     _podfiles_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
  ]);

beforeAll(async () => {
  ensureBuilt();
  server = await startTestServer({
    interceptors: [
      (next) => async (req) => {
        calls.push(req.method.name);
        return next(req);
      },
    ],
  });
  bin = installedBinDir();
  env = cliEnv(server.url, { PATH: `${bin}:${process.env.PATH}` });
  fs.mkdirSync(join(server.root, "etc/nginx"), { recursive: true });
  fs.writeFileSync(join(server.root, "etc/hosts"), "h");
  fs.writeFileSync(join(server.root, "etc/hostname"), "n");
  fs.writeFileSync(join(server.root, "etc/.secret"), "s");
});
afterAll(async () => {
  await server?.close();
  if (bin) fs.rmSync(bin, { recursive: true, force: true });
});

describe("bash", () => {
  it("registers the function for podfiles and kubectl-podfiles (complete -p)", async () => {
    const r = await sh("bash", ["-c", "source <(podfiles completion bash); complete -p podfiles kubectl-podfiles"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("-F _podfiles_complete podfiles");
    expect(r.stdout).toContain("-F _podfiles_complete kubectl-podfiles");
    expect(r.stdout).toContain("-o default"); // nothing from podfiles: bash completes file names
  });

  it("completes commands and a command's flags without calling the server", async () => {
    calls.length = 0;
    expect((await bashComplete("podfiles", "c")).stdout.split("\n").filter(Boolean)).toEqual(["cat", "completion", "cp"]);
    expect((await bashComplete("podfiles", "s")).stdout.split("\n").filter(Boolean)).toEqual(["serve", "stat", "sync"]);
    expect((await bashComplete("podfiles", "cp", "--p")).stdout.split("\n").filter(Boolean)).toEqual(["--parents"]);
    expect((await bashComplete("podfiles", "ls", "--j")).stdout.trim()).toBe("--json");
    expect((await bashComplete("podfiles", "completion", "")).stdout.split("\n").filter(Boolean)).toEqual(["bash", "zsh", "fish"]);
    expect(calls).toEqual([]);
  });

  it("completes remote paths with one ListFiles per Tab; directories end with /; hidden names only after a dot", async () => {
    calls.length = 0;
    // bash splits "local/local:/etc/ho" at the colon: the candidates replace only the last word
    const r = await bashComplete("podfiles", "get", "local/local", ":", "/etc/ho");
    expect(r.stdout.split("\n").filter(Boolean)).toEqual(["/etc/hostname", "/etc/hosts"]);
    expect(calls).toEqual(["ListFiles"]);
    calls.length = 0;
    expect((await bashComplete("podfiles", "ls", "local/local", ":", "/etc/")).stdout.split("\n").filter(Boolean)).toEqual([
      "/etc/hostname",
      "/etc/hosts",
      "/etc/nginx/",
    ]);
    expect((await bashComplete("podfiles", "ls", "local/local", ":", "/etc/.")).stdout.trim()).toBe("/etc/.secret");
    expect((await bashComplete("podfiles", "ls", "-n", "local", "local", ":", "/e")).stdout.trim()).toBe("/etc/");
    expect(calls).toEqual(["ListFiles", "ListFiles", "ListFiles"]);
  });

  it("leaves local paths and flag values to the shell (no candidates, no call)", async () => {
    calls.length = 0;
    expect((await bashComplete("podfiles", "put", "./")).stdout.trim()).toBe("");
    expect((await bashComplete("podfiles", "ls", "--server", "")).stdout.trim()).toBe("");
    expect(calls).toEqual([]);
  });
});

describe("zsh and fish (Debian's packages; .ci/run installs them)", () => {
  it("zsh: compdef registers _podfiles, which offers the remote candidates or falls back to _files", async () => {
    expect(which("zsh"), "zsh is not installed: apt-get install zsh").toBeDefined();
    const r = await sh("zsh", [
      "-c",
      `autoload -U compinit; compinit -u
       source <(podfiles completion zsh)
       print -r -- "comps=$_comps[podfiles]"
       compadd() { local -a a; a=("$@"); print -rl -- "\${(@)a[\${a[(i)--]}+1,-1]}"; }
       _files() { print -r -- "(files)"; }
       words=(podfiles get local/local:/etc/ho); CURRENT=3; _podfiles
       words=(podfiles c); CURRENT=2; _podfiles
       words=(podfiles put ./x); CURRENT=3; _podfiles`,
    ]);
    expect(r.stderr).toBe("");
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      "comps=_podfiles",
      "local/local:/etc/hostname",
      "local/local:/etc/hosts",
      "cat",
      "completion",
      "cp",
      "(files)",
    ]);
  });

  it("fish: complete -C completes commands, flags and remote paths", async () => {
    expect(which("fish"), "fish is not installed: apt-get install fish").toBeDefined();
    const r = await sh("fish", [
      "-c",
      `podfiles completion fish | source
       complete -C"podfiles get local/local:/etc/ho"; echo ==
       complete -C"podfiles c"; echo ==
       complete -C"podfiles ls --js"`,
    ]);
    expect(r.stdout.split("\n").filter(Boolean)).toEqual([
      "local/local:/etc/hostname",
      "local/local:/etc/hosts",
      "==",
      "cat",
      "completion",
      "cp",
      "==",
      "--json",
    ]);
  });
});
