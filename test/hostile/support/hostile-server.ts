// `podfiles serve` in its own process, watched from outside the way the hostile suites need it:
// did it exit (and what did it print last), does Health/Check answer within a bound, which file
// descriptors does it hold, and are upload temp files left under the root.
import { readdirSync, readlinkSync } from "node:fs";
import * as http from "node:http";
import { join } from "node:path";
import { startServerProcess, type ServerProcess } from "../../support/server-process.js";

export interface HostileServer extends ServerProcess {
  root: string;
  /** The last ~8 KiB the server wrote to stderr (its crash message, if any). */
  stderrTail(): string;
  /** undefined while running, else "exit code N" / "signal SIG…". */
  exited(): string | undefined;
  /** Targets of the server's open file descriptors (/proc/PID/fd), e.g. "socket:[123]" or a path. */
  fds(): string[];
}

export async function startHostileServer(root: string, extraArgs: string[] = []): Promise<HostileServer> {
  const s = await startServerProcess(root, extraArgs);
  let tail = "";
  s.child.stderr!.on("data", (d: Buffer) => {
    tail = (tail + d.toString()).slice(-8192);
  });
  return {
    ...s,
    root,
    stderrTail: () => tail,
    exited: () => {
      if (s.child.exitCode !== null) return `exit code ${s.child.exitCode}`;
      if (s.child.signalCode !== null) return `signal ${s.child.signalCode}`;
      return undefined;
    },
    fds: () => {
      const dir = `/proc/${s.child.pid}/fd`;
      const out: string[] = [];
      for (const fd of readdirSync(dir)) {
        try {
          out.push(readlinkSync(join(dir, fd)));
        } catch {
          // closed between readdir and readlink
        }
      }
      return out;
    },
    stop: async () => {
      if (s.child.exitCode !== null || s.child.signalCode !== null) return;
      const gone = new Promise<void>((r) => s.child.once("exit", () => r()));
      s.child.kill("SIGTERM");
      // a server stuck in a syscall may ignore SIGTERM's graceful path: bound the wait
      const t = setTimeout(() => s.child.kill("SIGKILL"), 5000);
      await gone;
      clearTimeout(t);
    },
  };
}

/** File descriptors that name a path (not sockets, pipes, anon inodes, /dev): the file handles a call can leak. */
export const pathFds = (server: HostileServer) => server.fds().filter((t) => t.startsWith("/") && !t.startsWith("/dev/"));

/**
 * POSTs Health/Check (Connect JSON over a fresh HTTP/1.1 connection, so no shared session can hide
 * a stalled server) and resolves with the latency in ms; rejects unless SERVING arrives within timeoutMs.
 */
export function healthCheck(url: string, timeoutMs = 1000): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/grpc.health.v1.Health/Check`, {
      method: "POST",
      agent: false,
      headers: { "content-type": "application/json", "connect-protocol-version": "1" },
      timeout: timeoutMs,
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`Health/Check did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on("response", (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => {
        clearTimeout(timer);
        if (res.statusCode === 200 && body.includes("SERVING")) resolve(performance.now() - started);
        else reject(new Error(`Health/Check answered HTTP ${res.statusCode}: ${body}`));
      });
    });
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`Health/Check failed: ${e.message}`));
    });
    req.end("{}");
  });
}

/** Health/Check answers that missed the 1 s bound once but made it on a retry (printed by the suites: load, not a stall). */
export const slowHealth: string[] = [];

/**
 * Throws with the exit status and the server's last words unless it runs and answers Health/Check
 * within timeoutMs. Two retries: on a loaded 2-core machine one answer can miss 1 s without the
 * server being stuck (measured: ~1.1 s once at load 16); a stalled or dead server misses all three.
 */
export async function assertAlive(server: HostileServer, after: string, timeoutMs = 1000, attempts = 3): Promise<void> {
  const dead = () => new Error(`server died after ${after}: ${server.exited()}\n--- server stderr (tail) ---\n${lastLines(server.stderrTail(), 25)}`);
  const misses: string[] = [];
  for (let i = 0; i < attempts; i++) {
    if (server.exited()) throw dead();
    try {
      await healthCheck(server.url, timeoutMs);
      if (misses.length) slowHealth.push(`${after}: ${misses.join("; ")}`);
      return;
    } catch (err) {
      misses.push((err as Error).message);
      // it may be dying right now: report the exit rather than the refused connection
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (server.exited()) throw dead();
  throw new Error(`server alive but unhealthy after ${after}: ${misses.join("; ")}`);
}

const lastLines = (s: string, n: number) => s.trimEnd().split("\n").slice(-n).join("\n");

/**
 * Upload temp files (".<name>.podfiles-<id>.part") anywhere under dir, as relative paths (names that
 * are not UTF-8 are read as bytes and shown escaped); `skip` names subtrees not to enter (a hung mount).
 */
export function tempLeftovers(dir: string, skip: (rel: string) => boolean = () => false): string[] {
  const out: string[] = [];
  const walk = (abs: Buffer, rel: string) => {
    let entries;
    try {
      entries = readdirSync(abs, { withFileTypes: true, encoding: "buffer" });
    } catch {
      return; // removed while we looked
    }
    for (const e of entries) {
      const name = e.name as Buffer;
      const r = rel ? `${rel}/${escapeName(name)}` : escapeName(name);
      if (skip(r)) continue;
      if (name.includes(".podfiles-")) out.push(r);
      if (e.isDirectory()) walk(Buffer.concat([abs, Buffer.from("/"), name]), r);
    }
  };
  walk(Buffer.from(dir), "");
  return out;
}

/** A name as text for messages: bytes that are not valid UTF-8 shown as \xNN. */
export function escapeName(name: Buffer): string {
  const text = name.toString("utf8");
  if (Buffer.from(text, "utf8").equals(name)) return text;
  return [...name].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
