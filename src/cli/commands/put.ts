// podfiles put [-f] [-p] [--mode 0644] LOCAL REMOTE
//   LOCAL "-": stdin, sent as it is read (its size and SHA-256 follow in the upload's trailer)
//   a file: the SDK's upload (size and SHA-256 sent, the SHA-256 computed while sending, so the
//           server commits it atomically only if every byte arrived intact; a cancelled or broken
//           upload leaves nothing behind)
//   a directory: the SDK's uploadDirectory (a tar stream extracted into REMOTE, created if missing)
import * as fs from "node:fs";
import { basename, resolve } from "node:path";
import { posix } from "node:path";
import type { Command } from "commander";
import { FileType } from "../../../gen/ts/podfiles/v1/files_pb.js";
import type { DigestName } from "../../client/hasher.js";
import { Code, PodfilesError } from "../../client/errors.js";
import { addTargetOptions, type Connection, type PodfilesClient, type TargetOptions } from "./client.js";
import { DIGEST_HELP, digestText, parseDigest } from "./digest-option.js";
import { UsageError } from "./errors.js";
import { parseMode } from "./mode.js";
import { createProgress } from "./progress.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";

export interface PutOptions extends TargetOptions {
  local: string;
  target: string;
  overwrite: boolean;
  parents: boolean;
  resume: boolean;
  mode?: string;
  uid?: string;
  gid?: string;
  progress: boolean;
  verbose: boolean;
  digest?: string;
}

export interface ResolvedPut extends PutOptions {
  remote: RemotePath;
  digestName?: DigestName;
  modeBits: number | undefined;
  uidNum: number | undefined;
  gidNum: number | undefined;
  /** undefined for stdin */
  localStat: fs.Stats | undefined;
}

function parseId(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 0xffffffff) throw new UsageError(`${flag} ${v}: not a numeric id`);
  return Number(v);
}

export function validatePut(o: PutOptions): ResolvedPut {
  const remote = parseRemote(o.target, o);
  const digestName = parseDigest(o.digest);
  const modeBits = o.mode === undefined ? undefined : parseMode(o.mode);
  const uidNum = parseId("--uid", o.uid);
  const gidNum = parseId("--gid", o.gid);
  if (o.local === "-") {
    if (o.resume) throw new UsageError("--resume needs a LOCAL file, not stdin");
    if (remote.path.endsWith("/")) throw new UsageError(`put -: name the remote file (${remote.path} is a directory)`);
    return { ...o, remote, modeBits, uidNum, gidNum, localStat: undefined };
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(o.local);
  } catch {
    throw new UsageError(`${o.local}: no such local file or directory`);
  }
  if (!st.isFile() && !st.isDirectory()) throw new UsageError(`${o.local}: not a regular file or a directory`);
  if (st.isDirectory() && modeBits !== undefined) throw new UsageError("--mode applies to a single file (a directory keeps its files' modes)");
  if (st.isDirectory() && o.resume) throw new UsageError("--resume applies to a single file");
  return { ...o, remote, modeBits, uidNum, gidNum, localStat: st, digestName };
}

/** REMOTE names a directory (trailing slash, or an existing one): the file goes inside it. */
async function fileDestination(client: PodfilesClient, remote: RemotePath, localName: string): Promise<string> {
  if (remote.path.endsWith("/")) return posix.join(remote.path, localName);
  try {
    const entry = await client.stat(remote, { followSymlinks: true });
    if (entry.type === FileType.DIRECTORY) return posix.join(remote.path, localName);
  } catch (err) {
    if (!(err instanceof PodfilesError && err.code === Code.NotFound)) throw err;
  }
  return remote.path;
}

export async function runPut(o: ResolvedPut, { client }: Connection, io: Io): Promise<void> {
  const { remote } = o;
  const local = o.local;
  const warn = (m: string) => io.err.write(`podfiles: ${m}\n`);
  if (o.localStat?.isDirectory()) {
    const path = remote.path.replace(/(.)\/+$/, "$1");
    const progress = createProgress(`${basename(resolve(local))}/ (tar)`, undefined, { enabled: o.progress });
    try {
      const res = await client.uploadDirectory(
        local,
        { container: remote.container, path },
        { makeParents: o.parents, uid: o.uidNum, gid: o.gidNum, warn, onProgress: (p) => progress.set(p.bytes), digest: o.digestName },
      );
      if (o.verbose) io.out.write(`${local} → ${res.entry?.path ?? path} (${res.entries ?? 0} entries)\n`);
    } finally {
      progress.stop();
    }
    return;
  }
  if (!o.localStat) return putStdin(o, client, io);
  const path = await fileDestination(client, remote, basename(resolve(local)));
  const size = o.localStat.size;
  const progress = createProgress(basename(local), size, { enabled: o.progress });
  try {
    const res = await client.upload(
      local,
      { container: remote.container, path },
      {
        overwrite: o.overwrite ? "overwrite" : "fail",
        resume: o.resume,
        makeParents: o.parents,
        mode: o.modeBits,
        uid: o.uidNum,
        gid: o.gidNum,
        digest: o.digestName,
        onProgress: (p) => progress.set(size - (p.total ?? size) + p.bytes),
      },
    );
    if (o.verbose)
      io.out.write(`${local} → ${res.entry?.path ?? path} (${res.bytes} bytes, ${digestText(res)}${res.offset > 0 ? `, resumed at ${res.offset}` : ""})\n`);
  } catch (err) {
    throw missingParentHint(err, o.parents);
  } finally {
    progress.stop();
  }
}

function missingParentHint(err: unknown, parents: boolean): unknown {
  if (err instanceof PodfilesError && err.code === Code.NotFound && !parents) {
    return new PodfilesError(`${err.rawMessage} (is the parent directory missing? -p creates it)`, Code.NotFound);
  }
  // the SDK's option is `resume`; the flag is --resume
  if (err instanceof PodfilesError && err.code === Code.FailedPrecondition && / without resume$/.test(err.rawMessage)) {
    return new PodfilesError(err.rawMessage.replace(/ without resume$/, " without --resume"), err.code);
  }
  return err;
}

/** put - REMOTE: stdin into the file REMOTE names (not into a directory: stdin has no name). */
async function putStdin(o: ResolvedPut, client: PodfilesClient, io: Io): Promise<void> {
  const { remote } = o;
  if ((await fileDestination(client, remote, "-")) !== remote.path) throw new UsageError(`put -: name the remote file (${remote.path} is a directory)`);
  const progress = createProgress("stdin", undefined, { enabled: o.progress });
  try {
    const res = await client.upload(process.stdin, remote, {
      overwrite: o.overwrite ? "overwrite" : "fail",
      makeParents: o.parents,
      mode: o.modeBits,
      uid: o.uidNum,
      gid: o.gidNum,
      onProgress: (p) => progress.set(p.bytes),
    });
    if (o.verbose) io.out.write(`stdin → ${res.entry?.path ?? remote.path} (${res.bytes} bytes, sha256 ${res.sha256})\n`);
  } catch (err) {
    throw missingParentHint(err, o.parents);
  } finally {
    progress.stop();
  }
}

export function registerPut(program: Command): void {
  const cmd = program
    .command("put")
    .description("upload a file (atomic, size and SHA-256 checked) or a directory (as tar, extracted into REMOTE)")
    .argument("<local>", 'local file or directory ("-": stdin)')
    .argument("<remote>", `${REMOTE_SYNTAX}; a file goes inside REMOTE when it is a directory or ends with /`)
    .option("-f, --overwrite", "replace existing files (default: fail with ALREADY_EXISTS)")
    .option("-p, --parents", "create missing parent directories")
    .option("--resume", "the remote file is a partial copy of LOCAL (same first bytes): append the rest (its last 64 KiB are checked first)")
    .option("-m, --mode <octal>", "permission bits of an uploaded file (default 0644, or the replaced file's)")
    .option("--uid <n>", "owner uid (default: the container's default user; a directory keeps the local ids)")
    .option("--gid <n>", "owner gid")
    .option("--digest <name>", DIGEST_HELP)
    .option("--no-progress", "no progress bar (it shows only when stderr is a terminal)")
    .option("-v, --verbose", "print what was uploaded");
  addTargetOptions(cmd).action(
    action(
      ([local, target], opts) =>
        ({
          ...opts,
          local: local ?? "",
          target: target ?? "",
          overwrite: !!opts.overwrite,
          parents: !!opts.parents,
          resume: !!opts.resume,
          progress: opts.progress !== false,
          verbose: !!opts.verbose,
        }) as PutOptions,
      validatePut,
      runPut,
      { overwrite: "use -f to replace it" },
    ),
  );
}
