// Starts `podfiles serve` as a separate process (the built bin/podfiles.js),
// for tests that measure the server from outside (memory, CPU).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../bin/podfiles.js", import.meta.url));
/** start-up on a loaded CI machine takes 1–3 s */
const START_DEADLINE_MS = 30_000;
const STOP_DEADLINE_MS = 15_000;

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
  // stdout read from the first byte: with --trace-gc or --trace-incremental-marking the server writes
  // there from its start, and an unread pipe (64 KiB) stopped it before it listened (process-gc.spec
  // in a full run: "did not listen within 30 s", nothing on stderr)
  if (o.onStdout) child.stdout!.on("data", (d: Buffer) => o.onStdout!(d.toString()));
  else child.stdout!.resume();
  let err = "";
  const port = await new Promise<number>((resolve, reject) => {
    // a server that never says it listens fails the caller with what it said, instead of hanging it
    const deadline = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`podfiles serve did not listen within ${START_DEADLINE_MS / 1000} s: ${err.slice(-2000)}`));
    }, START_DEADLINE_MS);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /"msg":"listening".*?"port":(\d+)/.exec(err);
      if (m) {
        clearTimeout(deadline);
        resolve(Number(m[1]));
      }
    });
    child.once("exit", (code) => {
      clearTimeout(deadline);
      reject(new Error(`podfiles serve exited with ${code} (is it built? npm run build): ${err}`));
    });
  });
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) * 1024,
    stop: () =>
      new Promise((resolve, reject) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        // a graceful close is bounded (2 s of grace for open sessions, src/server/transport.ts): one
        // that does not end is killed and reported with the server's last words, not waited for
        const deadline = setTimeout(() => {
          child.kill("SIGKILL");
          reject(new Error(`podfiles serve did not exit within ${STOP_DEADLINE_MS / 1000} s of SIGTERM (killed): ${err.slice(-2000)}`));
        }, STOP_DEADLINE_MS);
        child.once("exit", () => {
          clearTimeout(deadline);
          resolve();
        });
        child.kill("SIGTERM");
      }),
  };
}
