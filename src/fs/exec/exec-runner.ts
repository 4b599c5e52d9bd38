// Running one tool in the container and turning how it ended into podfiles errors: a tool the
// image lacks → FAILED_PRECONDITION naming it (remembered per container, so the next call answers
// without an exec); a non-zero exit → the errno its stderr names (ENOENT, EEXIST, …: mapped with the
// request's path like RootFs's errors), else INTERNAL with the stderr line.
//
// A path that is not valid UTF-8 cannot be an exec argument (the kubelet's CRI request carries
// argv as protobuf strings: measured, "grpc: error while marshaling: string field contains invalid
// UTF-8"). Such arguments, always the trailing ones, travel NUL-separated over stdin to
// `xargs -0`, which appends them to the command inside the container.
import { failedPrecondition, unavailable } from "../../errors.js";
import { pathFromWire } from "../name-bytes.js";
import { ExecProcess, type Arg, type ExecDialer, type ExecResult } from "./exec-channel.js";

/** stderr text → errno code (busybox and GNU coreutils wording). */
const ERRNO_TEXT: [RegExp, string][] = [
  [/No such file or directory/i, "ENOENT"],
  [/File exists|already exists/i, "EEXIST"],
  [/Not a directory/i, "ENOTDIR"],
  [/Is a directory/i, "EISDIR"],
  [/Directory not empty/i, "ENOTEMPTY"],
  [/Permission denied/i, "EACCES"],
  [/Operation not permitted/i, "EPERM"],
  [/Read-only file system/i, "EROFS"],
  [/No space left on device/i, "ENOSPC"],
  [/Too many levels of symbolic links/i, "ELOOP"],
  [/File name too long/i, "ENAMETOOLONG"],
  [/Device or resource busy/i, "EBUSY"],
  [/Invalid argument/i, "EINVAL"],
  [/cannot move .* to a subdirectory of itself|can't move .* into itself/i, "EINVAL"],
];

/** An Error carrying the errno its message names (for toConnectError), or undefined. */
export function errnoFromStderr(stderr: string): (Error & { code: string }) | undefined {
  for (const [re, code] of ERRNO_TEXT) if (re.test(stderr)) return Object.assign(new Error(stderr.trim()), { code });
  return undefined;
}

const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });
const isUtf8 = (b: Uint8Array) => {
  try {
    fatalUtf8.decode(b);
    return true;
  } catch {
    return false;
  }
};

/** The argument for a clean API path: the string, or the bytes when it names a non-UTF-8 name. */
export function pathArg(path: string): Arg {
  const p = pathFromWire(path);
  return typeof p === "string" ? p : isUtf8(p) ? p.toString("utf8") : p;
}

/** How long a short command (stat, mkdir, mv, …) may take. */
const OUTPUT_DEADLINE_MS = 30_000;

export interface RunOptions {
  /** What the call is for, in the missing-tool message ("directory download"). */
  purpose: string;
  stdin?: boolean;
  signal?: AbortSignal;
}

export class ExecRunner {
  private readonly missing = new Set<string>();

  constructor(readonly dialer: ExecDialer) {}

  private missingTool(tool: string, purpose: string) {
    return failedPrecondition(`the image has no ${tool}: ${purpose} needs ${tool} in the container (${this.dialer.description})`);
  }

  /** Starts argv; trailing non-UTF-8 arguments go through xargs (not with stdin). */
  async start(argv: Arg[], o: RunOptions): Promise<ExecProcess> {
    const tool = String(argv[0]);
    if (this.missing.has(tool)) throw this.missingTool(tool, o.purpose);
    const firstBytes = argv.findIndex((a) => typeof a !== "string");
    if (firstBytes < 0) return ExecProcess.start(this.dialer, argv, { stdin: o.stdin, signal: o.signal });
    if (o.stdin) throw failedPrecondition(`${o.purpose}: a path that is not valid UTF-8 cannot be written through exec`);
    if (this.missing.has("xargs")) throw this.missingTool("xargs", `${o.purpose} of a non-UTF-8 name`);
    const tail = argv.slice(firstBytes).map((a) => Buffer.from(typeof a === "string" ? Buffer.from(a) : a));
    const proc = await ExecProcess.start(this.dialer, ["xargs", "-0", ...argv.slice(0, firstBytes)], { stdin: true, signal: o.signal });
    for (const a of tail) await proc.write(Buffer.concat([a, Buffer.from([0])]));
    proc.closeStdin();
    return proc;
  }

  /** Throws the error an ended command stands for (nothing on exit 0). `tool` for the missing-tool case. */
  check(result: ExecResult, tool: string, purpose: string): void {
    if (result.exitCode === 0) return;
    if (result.notFound) {
      // "xargs" itself missing, or the tool xargs was to run
      const which = /"xargs"/.test(result.message) ? "xargs" : tool;
      this.missing.add(which);
      throw this.missingTool(which, purpose);
    }
    if (/xargs: .*: No such file or directory/.test(result.stderr) && !result.stderr.includes(`${tool}: `)) {
      this.missing.add(tool);
      throw this.missingTool(tool, purpose);
    }
    const errno = errnoFromStderr(result.stderr);
    if (errno) throw errno;
    const detail = result.stderr.trim() || result.message || `exit code ${result.exitCode}`;
    throw new Error(`${tool} in ${this.dialer.description} failed: ${detail.split("\n")[0]}`);
  }

  /**
   * Runs argv to the end and returns its stdout (at most maxOut bytes), or throws its error. A
   * command that has not ended after timeoutMs (default OUTPUT_DEADLINE_MS: a stat on a hung mount)
   * is killed and fails UNAVAILABLE, as RootFs's hang guard answers.
   */
  async output(argv: Arg[], o: RunOptions & { maxOut?: number; input?: Uint8Array; timeoutMs?: number }): Promise<Buffer> {
    const proc = await this.start(argv, { ...o, stdin: o.stdin ?? o.input !== undefined });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      proc.kill();
    }, o.timeoutMs ?? OUTPUT_DEADLINE_MS);
    try {
      if (o.input !== undefined) {
        await proc.write(o.input);
        proc.closeStdin();
      }
      const out = await proc.readAll(o.maxOut ?? 64 * 1024 * 1024);
      const result = await proc.done;
      if (timedOut)
        throw unavailable(
          `${String(argv[0])} in ${this.dialer.description} did not answer within ${(o.timeoutMs ?? OUTPUT_DEADLINE_MS) / 1000} s (${o.purpose})`,
        );
      this.check(result, String(argv[0]), o.purpose);
      return out;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether argv exits 0 (a probe: a missing tool is still an error). */
  async succeeds(argv: Arg[], o: RunOptions): Promise<{ ok: boolean; result: ExecResult }> {
    const proc = await this.start(argv, o);
    await proc.readAll(1024 * 1024);
    const result = await proc.done;
    if (result.notFound) this.check(result, String(argv[0]), o.purpose);
    return { ok: result.exitCode === 0, result };
  }
}
