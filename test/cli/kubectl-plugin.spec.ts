// `kubectl podfiles …`: kubectl finds the kubectl-podfiles executable on PATH, runs it with the
// words after "podfiles" (exit codes passed through), and completes it through
// kubectl_complete-podfiles. kubectl runs a plugin before reading any kubeconfig: no cluster needed.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { cliEnv, ensureBuilt, repo } from "./run-cli.js";
import { installedBinDir, which } from "./shell-path.js";

// the cluster build's kubectl (scripts/cluster.sh), else one on PATH
const cached = join(process.env.PODFILES_CACHE ?? join(homedir(), ".cache/podfiles"), "k8s-v1.34.4/bin/kubectl");
const kubectl = fs.existsSync(cached) ? cached : which("kubectl");
const version = (JSON.parse(fs.readFileSync(join(repo, "package.json"), "utf8")) as { version: string }).version;

let server: TestServer;
let env: NodeJS.ProcessEnv;
let bin: string;

const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(kubectl!, args, { env, encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr }),
    );
  });

beforeAll(async () => {
  ensureBuilt();
  server = await startTestServer();
  bin = installedBinDir();
  env = cliEnv(server.url, { PATH: `${bin}:${process.env.PATH}` });
  fs.writeFileSync(join(server.root, "hello.txt"), "hello");
});
afterAll(async () => {
  await server?.close();
  if (bin) fs.rmSync(bin, { recursive: true, force: true });
});

describe("kubectl podfiles", () => {
  it("kubectl lists the plugin and runs it; exit codes pass through", async () => {
    expect(kubectl, "no kubectl: scripts/cluster.sh builds one into ~/.cache/podfiles").toBeDefined();
    const list = await run(["plugin", "list"]);
    expect(list.stdout).toContain(join(bin, "kubectl-podfiles"));
    expect(await run(["podfiles", "version"])).toMatchObject({ code: 0, stdout: `${version}\n` });
    expect(await run(["podfiles", "cat", "local/local:/hello.txt"])).toMatchObject({ code: 0, stdout: "hello" });
    expect((await run(["podfiles", "cat", "local/local:/missing"])).code).toBe(1);
    expect((await run(["podfiles", "no-such-command"])).code).toBe(2);
  });

  it("kubectl completes the plugin's words through kubectl_complete-podfiles", async () => {
    const r = await run(["__complete", "podfiles", "cat", "local/local:/he"]);
    expect(r.stdout).toBe("local/local:/hello.txt\n:4\n");
    const files = await run(["__complete", "podfiles", "put", "./"]);
    expect(files.stdout).toBe(":0\n"); // nothing from podfiles: the shell completes file names
  });
});
