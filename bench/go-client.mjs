// The grpc-go benchmark client (bench/go-client/, built on the generated module gen/go):
//   const bin = await buildGoClient({ repoDir, log });
//   const r = await goClient(bin, { op: "download", url, path: "/big.bin", chunkSize, expectBytes }, timeoutMs);
//   const u = await goClient(bin, ["upload", "--url", url, "--src", file, "--dest", "/up.bin"], timeoutMs);
// The binary is built once per content of its sources and of gen/go (and per Go version) into
// ${PODFILES_CACHE:-~/.cache/podfiles}/bench-go-client/<hash>/podfiles-bench, outside the repo, with
// the caller's environment: GOMODCACHE, GOCACHE, GOFLAGS, GOPROXY, GOTOOLCHAIN apply as for the
// repo's other Go builds (test/clients/go, scripts/lib/go-tools.sh).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";

const BINARY = "podfiles-bench";

function exec(cmd, args, { cwd, timeoutMs, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr = (stderr + d).slice(-64_000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} could not start: ${e.message}`));
    });
    child.on("close", (code, signal) => resolve((clearTimeout(timer), { code, signal, timedOut, stdout, stderr })));
  });
}

function filesUnder(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Hash of what the binary is made of: bench/go-client/*, gen/go/**, and the Go toolchain. */
function sourceHash(repoDir, goVersion) {
  const h = createHash("sha256");
  h.update(`${goVersion}\n${process.env.GOFLAGS ?? ""}\n`);
  const files = [...filesUnder(join(repoDir, "bench/go-client")), ...filesUnder(join(repoDir, "gen/go"))].sort();
  for (const f of files) {
    h.update(`${relative(repoDir, f)}\0`);
    h.update(readFileSync(f));
    h.update("\0");
  }
  return h.digest("hex").slice(0, 16);
}

/** Builds bench/go-client (or finds it built) and returns the binary's path. Throws with go's output on failure. */
export async function buildGoClient({ repoDir, log = () => {} } = {}) {
  if (!repoDir) throw new Error("buildGoClient: repoDir is required");
  const srcDir = join(repoDir, "bench/go-client");
  const ver = await exec("go", ["env", "GOVERSION", "GOOS", "GOARCH"], { cwd: srcDir, timeoutMs: 60_000 }).catch((e) => {
    throw new Error(`the Go bench client needs the go toolchain: ${e.message}`);
  });
  if (ver.code !== 0) throw new Error(`go env failed (${ver.code}):\n${ver.stderr}`);
  const cache = process.env.PODFILES_CACHE || join(homedir(), ".cache/podfiles");
  const outDir = join(cache, "bench-go-client", sourceHash(repoDir, ver.stdout.trim().replace(/\s+/g, " ")));
  const binary = join(outDir, BINARY);
  if (existsSync(binary) && statSync(binary).mode & 0o100) {
    log(`Go bench client: ${binary} (cached)`);
    return binary;
  }
  mkdirSync(outDir, { recursive: true });
  const tmp = join(outDir, `.${BINARY}.${process.pid}.tmp`);
  log(`Go bench client: go build (${ver.stdout.trim().split(/\s+/)[0]}) into ${binary}; a cold build takes ~1 min`);
  const t0 = performance.now();
  const res = await exec("go", ["build", "-trimpath", "-buildvcs=false", "-o", tmp, "."], { cwd: srcDir, timeoutMs: 600_000 });
  if (res.code !== 0) {
    rmSync(tmp, { force: true });
    const why = res.timedOut ? "timed out after 600 s" : res.signal ? `killed by ${res.signal}` : `exit ${res.code}`;
    throw new Error(`go build of bench/go-client failed (${why}):\n${res.stderr.trim()}`);
  }
  renameSync(tmp, binary); // atomic: a concurrent build of the same hash just replaces it with the same bytes
  log(`Go bench client built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return binary;
}

/** {op, url, path, chunkSize, …} (bench/client.mjs's names) → ["op", "--url", url, "--chunk-size", n, …]. */
function toArgv(args) {
  if (Array.isArray(args)) return args.map(String);
  const { op, ...rest } = args;
  const argv = [op];
  for (const [k, v] of Object.entries(rest)) {
    if (v === undefined || v === null || k === "stack" || k === "warm") continue;
    argv.push(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v));
  }
  return argv;
}

/**
 * Runs the Go client once and returns its JSON result. `args` is an argv array
 * (["download", "--url", …]) or an object with bench/client.mjs's names
 * ({op, url, path, chunkSize, expectBytes, concurrency} / {op, url, src, dest, chunkSize}).
 * Kills it and throws after timeoutMs; throws with its stderr on a non-zero exit.
 */
export async function goClient(binary, args, timeoutMs = 120_000) {
  const argv = toArgv(args);
  const r = await exec(binary, argv, { timeoutMs });
  const what = `go client ${argv[0]}`;
  if (r.timedOut) throw new Error(`${what}: timed out after ${timeoutMs} ms: ${r.stderr.trim().slice(-2000)}`);
  if (r.code !== 0) throw new Error(`${what} failed (${r.signal ?? r.code}): ${r.stderr.trim().split("\n").slice(-5).join(" | ")}`);
  const lines = r.stdout.trim().split("\n");
  try {
    return JSON.parse(lines[lines.length - 1]);
  } catch {
    throw new Error(`${what}: no JSON on stdout: ${r.stdout.slice(-500)} ${r.stderr.slice(-500)}`);
  }
}
