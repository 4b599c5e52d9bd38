// Helpers for the benchmark: child processes with deadlines, /proc readings,
// statistics and formatting.
import { spawn } from "node:child_process";
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
export const benchDir = fileURLToPath(new URL(".", import.meta.url));
export const repoDir = fileURLToPath(new URL("..", import.meta.url));
const CLK_TCK = 100; // getconf CLK_TCK on Linux

/** utime+stime of a process, in seconds. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
}

/** The kernel's part of cpuSeconds (stime: syscalls such as writes into the page cache). */
export function systemCpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[12]) / CLK_TCK;
}

function statusKiB(pid, key) {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`${key}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) : NaN;
}
export const rssMiB = (pid) => statusKiB(pid, "VmRSS") / 1024;
export const hwmMiB = (pid) => statusKiB(pid, "VmHWM") / 1024;
/** Resets VmHWM to the current RSS (clear_refs 5, Linux ≥ 4.0). */
export function resetHwm(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/** Measures what a server process does while fn runs: CPU seconds, peak RSS (VmHWM after a reset, and sampled VmRSS). */
export async function watch(pid, fn) {
  const hwmReset = resetHwm(pid);
  const rss0 = rssMiB(pid);
  let sampled = rss0;
  const timer = setInterval(() => {
    try {
      sampled = Math.max(sampled, rssMiB(pid));
    } catch {}
  }, 20);
  const cpu0 = cpuSeconds(pid);
  const sys0 = systemCpuSeconds(pid);
  try {
    const result = await fn();
    const cpu = cpuSeconds(pid) - cpu0;
    const sys = systemCpuSeconds(pid) - sys0;
    const peak = hwmReset ? Math.max(hwmMiB(pid), sampled) : sampled;
    return { ...result, serverCpu: cpu, serverSysCpu: sys, serverRssBefore: rss0, serverPeakRss: peak };
  } finally {
    clearInterval(timer);
  }
}

/** Runs a command; resolves {code, stdout, stderr, ms}; kills it (and fails) after timeoutMs. */
export function run(cmd, args, { timeoutMs = 60_000, input, onStdoutLine, env } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: env ?? process.env });
    let stdout = "";
    let stderr = "";
    let pending = "";
    child.stdout.setEncoding("utf8").on("data", (d) => {
      stdout += d;
      if (onStdoutLine) {
        pending += d;
        let i;
        while ((i = pending.indexOf("\n")) >= 0) {
          onStdoutLine(pending.slice(0, i), child);
          pending = pending.slice(i + 1);
        }
      }
    });
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr = (stderr + d).slice(-8000)));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} ${args.join(" ").slice(0, 200)}: timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0, child });
    });
    if (input === undefined) child.stdin.end();
    else if (input !== null) child.stdin.end(input);
    run.last = child;
  });
}

/** Runs bench/client.mjs with one operation and returns its JSON result. */
export async function client(args, timeoutMs, hooks = {}) {
  const r = await run(process.execPath, [`${benchDir}/client.mjs`, JSON.stringify(args)], { timeoutMs, ...hooks });
  if (r.code !== 0) throw new Error(`client ${args.op}/${args.stack ?? ""} failed (${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** Starts a long-running process and waits for a line that `ready(line)` accepts (returns a value). */
export function startProcess(cmd, args, { ready, stream = "stdout", timeoutMs = 20_000, cwd, env, onOther } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], cwd, env: env ?? process.env });
    let buf = "";
    let tail = "";
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill("SIGKILL");
      reject(new Error(`${args.join(" ")}: not ready after ${timeoutMs} ms: ${tail}`));
    }, timeoutMs);
    const other = stream === "stdout" ? child.stderr : child.stdout;
    other.resume();
    other.on("data", (d) => {
      tail = (tail + d).slice(-2000);
      onOther?.(d);
    });
    child[stream].setEncoding("utf8").on("data", (d) => {
      if (done) return; // keep draining
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const value = ready(line);
        if (value !== undefined && !done) {
          done = true;
          clearTimeout(timer);
          resolve({ child, pid: child.pid, value, stop: () => stopProcess(child) });
          return;
        }
      }
    });
    child.on("exit", (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${args.join(" ")} exited with ${code}: ${tail}`));
    });
  });
}

/** SIGTERM, then SIGKILL after 5 s. Resolves once the process is gone. */
export function stopProcess(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/**
 * Others rebuild dist/ while a run goes on: the bench copies it once to
 * bench/.dist-<pid>/ (inside the repo, so node_modules and the native addon
 * still resolve) and runs servers and clients from that copy.
 */
export let distDir = `${repoDir}/dist`;
export function snapshotDist() {
  const snap = `${benchDir}/.dist-${process.pid}`;
  rmSync(snap, { recursive: true, force: true });
  cpSync(`${repoDir}/dist`, snap, { recursive: true });
  distDir = snap;
  process.env.PODFILES_BENCH_DIST = snap;
  return () => rmSync(snap, { recursive: true, force: true });
}
export const distReady = () => existsSync(`${repoDir}/dist/gen/ts/podfiles/v1/files_pb.js`) && existsSync(`${repoDir}/dist/src/cli/main.js`);

/**
 * podfiles serve --root ROOT on a free loopback port (its "listening" JSON log line is on stderr). Started
 * from dist/ directly (node flags such as profilers go first), so the 128-thread pool bin/podfiles.js sets
 * is set here too: with libuv's default 4, Stat waits behind the file reads in flight.
 */
export async function startPodfiles(root, nodeArgs = [], { onStdout, env } = {}) {
  const p = await startProcess(process.execPath, [...nodeArgs, `${distDir}/src/cli/main.js`, "serve", "--root", root, "--port", "0"], {
    stream: "stderr",
    cwd: repoDir,
    onOther: onStdout,
    env: { UV_THREADPOOL_SIZE: "128", ...(env ?? process.env) },
    ready: (line) => {
      try {
        const j = JSON.parse(line);
        if (j.msg === "listening") return j;
      } catch {}
      return undefined;
    },
  });
  return { ...p, url: `http://127.0.0.1:${p.value.port}`, confinement: p.value.confinement };
}

export async function startRawH2(root, script = "raw-h2-server.mjs", extraArgs = []) {
  // the baseline at its best, with the same collector setting as podfiles' CLI (src/cli/process-gc.ts:
  // Node 20 only): curl O_DIRECT uploads 710–838 → 761–860 MiB/s with it here
  const gc = process.versions.node.split(".")[0] === "20" ? ["--no-incremental-marking"] : [];
  const p = await startProcess(process.execPath, [...gc, `${benchDir}/${script}`, root, ...extraArgs], {
    ready: (line) => {
      try {
        return JSON.parse(line).port;
      } catch {
        return undefined;
      }
    },
  });
  return { ...p, url: `http://127.0.0.1:${p.value}` };
}

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export const mibps = (bytes, ms) => bytes / MiB / (ms / 1000);

export function fmt(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  return `${v.toFixed(digits)}${unit ? " " + unit : ""}`;
}

/** A fixed-width text table. */
export function textTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => String(c).padEnd(widths[i])).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

export function markdownTable(header, rows) {
  const esc = (c) => String(c).replace(/\|/g, "\\|");
  return [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.map(esc).join(" | ")} |`)].join("\n");
}

/**
 * Server event-loop delay, through a preload (bench/eld-preload.mjs) that
 * answers SIGUSR2 by writing its histogram to a file and resetting it.
 */
export function eldProbe(dir) {
  const file = `${dir}/eld-${process.pid}-${Math.random().toString(36).slice(2)}.json`;
  return {
    nodeArgs: ["--import", `${benchDir}/eld-preload.mjs`],
    env: { ...process.env, PODFILES_BENCH_ELD: file },
    /** Resets (reset) or reads-and-resets the histogram of the process. */
    async read(pid) {
      try {
        writeFileSync(file, "");
      } catch {}
      process.kill(pid, "SIGUSR2");
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 20));
        try {
          const text = readFileSync(file, "utf8");
          if (text) return JSON.parse(text);
        } catch {}
      }
      return null;
    },
  };
}
