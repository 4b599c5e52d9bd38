// podfiles get [--resume] REMOTE [LOCAL]
//   a file: the SDK's downloadToFile (LOCAL.part, length and SHA-256 checked, then renamed onto
//           LOCAL; --resume continues LOCAL.part or a partial LOCAL)
//   a directory: the SDK's downloadDirectory (a tar stream extracted into LOCAL)
//   LOCAL "-": the bytes (or the tar stream) go to stdout
// An existing local file (or a non-empty local directory) is replaced only with -f, as put needs
// -f for a remote one; --resume continues a partial LOCAL, which is asking for it to change.
import * as fs from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { FileType } from "../../../gen/ts/podfiles/v1/files_pb.js";
import type { DigestName } from "../../client/hasher.js";
import { Code, PodfilesError } from "../../client/errors.js";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { DIGEST_HELP, digestText, parseDigest } from "./digest-option.js";
import { UsageError } from "./errors.js";
import { createProgress } from "./progress.js";
import { REMOTE_SYNTAX, parseRemote, remoteBasename, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";

export interface GetOptions extends TargetOptions {
  source: string;
  local?: string;
  resume: boolean;
  force: boolean;
  progress: boolean;
  verbose: boolean;
  digest?: string;
}

export interface ResolvedGet extends GetOptions {
  remote: RemotePath;
  digestName?: DigestName;
  /** A local path, or "-" for stdout. */
  local: string;
}

export function validateGet(o: GetOptions): ResolvedGet {
  const remote = parseRemote(o.source, o);
  let local = o.local;
  if (local === undefined || local === "") {
    local = remoteBasename(remote.path);
    if (!local) throw new UsageError("get: name a LOCAL destination for the container's root");
  }
  if (o.resume && local === "-") throw new UsageError("--resume needs a LOCAL file, not stdout");
  return { ...o, remote, local, digestName: parseDigest(o.digest) };
}

const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;

/** Refuses to replace what is at `local` unless -f (or --resume, for a file). */
export function checkLocalTarget(local: string, kind: "file" | "directory", o: { force: boolean; resume?: boolean }): void {
  if (o.force) return;
  const st = fs.lstatSync(local, { throwIfNoEntry: false });
  if (!st) return;
  if (kind === "file" && !st.isDirectory() && !o.resume) throw new PodfilesError(`${local}: the local file exists (use -f to replace it)`, Code.AlreadyExists);
  if (kind === "directory" && st.isDirectory() && fs.readdirSync(local).length > 0)
    throw new PodfilesError(`${local}: the local directory is not empty (use -f to extract into it, replacing files of the same names)`, Code.AlreadyExists);
}

export async function runGet(o: ResolvedGet, { client }: Connection, io: Io): Promise<void> {
  const { remote, local } = o;
  const warn = (m: string) => io.err.write(`podfiles: ${m}\n`);
  const name = remoteBasename(remote.path);
  if (local === "-") {
    const progress = createProgress(name || "/", undefined, { enabled: o.progress });
    try {
      const stream = client.download(remote, { onProgress: (p) => progress.set(p.bytes), digest: o.digestName });
      await pipeline(stream.toReadable(), io.out, { end: false });
    } finally {
      progress.stop();
    }
    return;
  }
  const entry = await client.stat(remote, { followSymlinks: true });
  if (entry.type === FileType.DIRECTORY) {
    checkLocalTarget(local, "directory", o);
    const progress = createProgress(`${name || "/"} (tar)`, undefined, { enabled: o.progress });
    try {
      const result = await client.downloadDirectory(remote, local, { warn, onProgress: (p) => progress.set(p.bytes), digest: o.digestName });
      if (o.verbose) io.out.write(`${remote.path} → ${local}/ (${result.entries} entries)\n`);
    } finally {
      progress.stop();
    }
    return;
  }
  // a file lands in LOCAL, or in LOCAL/<name> when LOCAL is a directory
  const target = isDir(local) ? join(local, name || "root") : local;
  checkLocalTarget(target, "file", o);
  const progress = createProgress(name, Number(entry.size), { enabled: o.progress });
  try {
    const r = await client.downloadToFile(remote, target, {
      resume: o.resume,
      digest: o.digestName,
      onRestart: warn,
      // p counts this call's bytes; a resumed call starts at size − total
      onProgress: (p) => progress.set(Number(entry.size) - (p.total ?? 0) + p.bytes),
    });
    if (o.verbose) io.out.write(`${remote.path} → ${r.path} (${r.size} bytes, ${digestText(r)}${r.offset > 0 ? `, resumed at ${r.offset}` : ""})\n`);
  } catch (err) {
    const part = `${target}.part`;
    const local = err instanceof PodfilesError && (err.code === Code.DataLoss || err.code === Code.FailedPrecondition);
    if (!local && (fs.statSync(part, { throwIfNoEntry: false })?.size ?? 0) > 0) warn(`partial download kept in ${part}; rerun with --resume to continue`);
    // the SDK's option is `resume`; the flag is --resume
    if (err instanceof PodfilesError && err.code === Code.FailedPrecondition)
      throw new PodfilesError(err.rawMessage.replace(/without resume$/, "without --resume"), err.code);
    throw err;
  } finally {
    progress.stop();
  }
}

export function registerGet(program: Command): void {
  const cmd = program
    .command("get")
    .description("download a file (atomically, SHA-256 checked) or a directory (as tar, extracted into LOCAL)")
    .argument("<remote>", REMOTE_SYNTAX)
    .argument("[local]", 'local file or directory (default: the remote name in the current directory; "-" for stdout)')
    .option("--resume", "continue LOCAL.part (or a partial LOCAL) from its size")
    .option("--digest <name>", DIGEST_HELP)
    .option("-f, --force", "replace an existing local file (a directory: extract into a non-empty LOCAL)")
    .option("--no-progress", "no progress bar (it shows only when stderr is a terminal)")
    .option("-v, --verbose", "print what was downloaded");
  addTargetOptions(cmd).action(
    action(
      ([source, local], opts) =>
        ({
          ...opts,
          source: source ?? "",
          local,
          resume: !!opts.resume,
          force: !!opts.force,
          progress: opts.progress !== false,
          verbose: !!opts.verbose,
        }) as GetOptions,
      validateGet,
      runGet,
    ),
  );
}
