// The CLI as a user on a laptop runs it: a whole process with a kubeconfig and nothing of podfiles in
// its environment (no server, no token), an empty HOME; and the wait until every pod's agent answers
// through an API-server tunnel (a freshly deployed agent is Ready at container start, before it listens).
import { execFile } from "node:child_process";
import path from "node:path";
import { until } from "../../support/until.js";
import { repoRoot } from "./cluster.js";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubeconfigCliOptions {
  kubeconfig: string;
  home: string;
  /** $PODFILES_NAMESPACE (unset when undefined) */
  namespace?: string;
  /** directories put first on PATH (kubectl plugins) */
  pathPrefix?: string;
  timeoutMs?: number;
}

/** Runs `file args` (node: bin/podfiles.js by default) the way a user's shell would. */
export function runWithKubeconfig(o: KubeconfigCliOptions, args: string[], file = process.execPath): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: o.home, KUBECONFIG: o.kubeconfig };
  delete env.PODFILES_SERVER;
  delete env.PODFILES_TOKEN;
  delete env.PODFILES_NAMESPACE;
  if (o.namespace) env.PODFILES_NAMESPACE = o.namespace;
  if (o.pathPrefix) env.PATH = `${o.pathPrefix}:${process.env.PATH}`;
  const argv = file === process.execPath ? [path.join(repoRoot, "bin/podfiles.js"), ...args] : args;
  return new Promise<CliRun>((resolve) => {
    execFile(file, argv, { env, cwd: o.home, timeout: o.timeoutMs ?? 180_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Waits until `podfiles ls POD:DIR` succeeds for every pod. */
export async function untilAgentsAnswer(cli: (args: string[]) => Promise<CliRun>, pods: readonly string[], dir: string): Promise<void> {
  await until(
    "the agents answer through tunnels",
    async () => {
      for (const pod of pods) if ((await cli(["ls", `${pod}:${dir}`])).code !== 0) return undefined;
      return true;
    },
    120_000,
    1000,
  );
}
