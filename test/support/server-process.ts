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

export async function startServerProcess(root: string, extraArgs: string[] = []): Promise<ServerProcess> {
  const child = spawn(process.execPath, [bin, "serve", "--root", root, "--port", "0", ...extraArgs], { stdio: ["ignore", "pipe", "pipe"] });
  const port = await new Promise<number>((resolve, reject) => {
    let err = "";
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /"msg":"listening".*?"port":(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`podfiles serve exited with ${code} (is it built? npm run build): ${err}`)));
  });
  child.stdout!.resume();
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
