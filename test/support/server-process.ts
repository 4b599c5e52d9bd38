// Starts `podfiles serve` as a separate process (the built bin/podfiles.js),
// for tests that measure the server from outside (memory, CPU).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/podfiles.js", import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** Resident set size now, in bytes (VmRSS). */
  rss(): number;
  stop(): Promise<void>;
}

export interface ServerProcessOptions {
  /** options for node itself, before the script (e.g. --trace-gc) */
  nodeArgs?: string[];
  /** added to this process's environment */
  env?: NodeJS.ProcessEnv;
  /** the server's stdout as it comes (its log is on stderr) */
  onStdout?: (text: string) => void;
}

export async function startServerProcess(root: string, extraArgs: string[] = [], o: ServerProcessOptions = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...(o.nodeArgs ?? []), bin, "serve", "--root", root, "--port", "0", ...extraArgs], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...o.env },
  });
  const port = await new Promise<number>((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /"msg":"listening".*?"port":(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`podfiles serve exited with ${code} (is it built? npm run build): ${err}`)));
  });
  if (o.onStdout) child.stdout!.on("data", (d: Buffer) => o.onStdout!(d.toString()));
  else child.stdout!.resume();
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) * 1024,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
