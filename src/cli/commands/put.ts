// podfiles put [-f] [-p] [--mode 0644] LOCAL REMOTE
//   a file: uploaded with its size and SHA-256 as the expected values, so the
//           server commits it (atomically) only if every byte arrived intact;
//           a cancelled or broken upload leaves nothing behind
//   a directory: sent as a tar stream and extracted into REMOTE (created if missing)
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { basename, resolve } from "node:path";
import { posix } from "node:path";
import type { Command } from "commander";
import { Code, ConnectError } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { ArchiveFormat, FileType, OverwritePolicy, UploadRequestSchema, type UploadRequest } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { addTargetOptions, type Connection, type FileClient, type TargetOptions } from "./client.js";
import { CliError, UsageError } from "./errors.js";
import { parseMode } from "./mode.js";
import { createProgress } from "./progress.js";
import { REMOTE_SYNTAX, parseRemote, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";
import { packLocal } from "./tar-local.js";

export const UPLOAD_CHUNK = 1024 * 1024;

export interface PutOptions extends TargetOptions {
  local: string;
  target: string;
  overwrite: boolean;
  parents: boolean;
  mode?: string;
  uid?: string;
  gid?: string;
  progress: boolean;
  verbose: boolean;
  remote?: RemotePath;
  modeBits?: number;
  uidNum?: number;
  gidNum?: number;
  localStat?: fs.Stats;
}

function parseId(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) > 0xffffffff) throw new UsageError(`${flag} ${v}: not a numeric id`);
  return Number(v);
}

export function validatePut(o: PutOptions): void {
  o.remote = parseRemote(o.target, o);
  o.modeBits = o.mode === undefined ? undefined : parseMode(o.mode);
  o.uidNum = parseId("--uid", o.uid);
  o.gidNum = parseId("--gid", o.gid);
  let st: fs.Stats;
  try {
    st = fs.statSync(o.local);
  } catch {
    throw new UsageError(`${o.local}: no such local file or directory`);
  }
  if (!st.isFile() && !st.isDirectory()) throw new UsageError(`${o.local}: not a regular file or a directory`);
  if (st.isDirectory() && o.modeBits !== undefined) throw new UsageError("--mode applies to a single file (a directory keeps its files' modes)");
  o.localStat = st;
}

async function* fileChunks(path: string, onData: (n: number) => void): AsyncGenerator<Uint8Array> {
  const fh = await fs.promises.open(path, "r");
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(UPLOAD_CHUNK);
      const { bytesRead } = await fh.read(buf, 0, UPLOAD_CHUNK, null);
      if (bytesRead === 0) return;
      onData(bytesRead);
      yield bytesRead === UPLOAD_CHUNK ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** Coalesces a stream into messages of about UPLOAD_CHUNK bytes. */
async function* rechunk(source: AsyncIterable<Uint8Array>, onData: (n: number) => void): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array[] = [];
  let bytes = 0;
  for await (const c of source) {
    pending.push(c);
    bytes += c.length;
    if (bytes >= UPLOAD_CHUNK) {
      onData(bytes);
      yield Buffer.concat(pending, bytes);
      pending = [];
      bytes = 0;
    }
  }
  if (bytes > 0) {
    onData(bytes);
    yield Buffer.concat(pending, bytes);
  }
}

/** Size and SHA-256 of a byte stream (first pass, before the upload header is sent). */
async function digest(source: AsyncIterable<Uint8Array>): Promise<{ size: bigint; sha256: Uint8Array }> {
  const hash = createHash("sha256");
  let size = 0n;
  for await (const c of source) {
    hash.update(c);
    size += BigInt(c.length);
  }
  return { size, sha256: new Uint8Array(hash.digest()) };
}

/** REMOTE names a directory (trailing slash, or an existing one): the file goes inside it. */
async function fileDestination(client: FileClient, remote: RemotePath, localName: string): Promise<string> {
  if (remote.path.endsWith("/")) return posix.join(remote.path, localName);
  try {
    const st = await client.stat({ container: remote.container, path: remote.path, followSymlinks: true });
    if (st.entry?.type === FileType.DIRECTORY) return posix.join(remote.path, localName);
  } catch (err) {
    if (!(err instanceof ConnectError && err.code === Code.NotFound)) throw err;
  }
  return remote.path;
}

export async function runPut(o: PutOptions, { client }: Connection, io: Io): Promise<void> {
  const remote = o.remote!;
  const { container } = remote;
  const local = o.local;
  const isDir = o.localStat!.isDirectory();
  const warn = (m: string) => io.err.write(`podfiles: ${m}\n`);
  const pack = () => packLocal(local, { uid: o.uidNum, gid: o.gidNum, warn });

  let path: string;
  let expected: { size: bigint; sha256: Uint8Array };
  if (isDir) {
    path = remote.path.replace(/(.)\/+$/, "$1");
    expected = await digest(pack());
    try {
      await client.makeDirectory({ container, path, parents: o.parents });
    } catch (err) {
      if (!(err instanceof ConnectError && err.code === Code.AlreadyExists)) throw err;
    }
  } else {
    path = await fileDestination(client, remote, basename(resolve(local)));
    const hashing = createProgress(`sha256 ${basename(local)}`, o.localStat!.size, { enabled: o.progress });
    try {
      expected = await digest(fileChunks(local, (n) => hashing.add(n)));
    } finally {
      hashing.stop();
    }
  }

  const progress = createProgress(isDir ? `${basename(resolve(local))}/ (tar)` : basename(local), Number(expected.size), { enabled: o.progress });
  const data = isDir ? rechunk(pack(), (n) => progress.add(n)) : fileChunks(local, (n) => progress.add(n));
  const options = {
    mode: o.modeBits,
    uid: o.uidNum,
    gid: o.gidNum,
    overwrite: o.overwrite ? OverwritePolicy.OVERWRITE : OverwritePolicy.FAIL,
    expectedSize: expected.size,
    expectedSha256: expected.sha256,
    makeParents: isDir ? false : o.parents,
    format: isDir ? ArchiveFormat.TAR : ArchiveFormat.RAW,
  };
  async function* requests(): AsyncGenerator<UploadRequest> {
    yield create(UploadRequestSchema, { part: { case: "header", value: { container, path, options } } });
    for await (const chunk of data) yield create(UploadRequestSchema, { part: { case: "data", value: chunk } });
  }
  try {
    const res = await client.upload(requests());
    if (o.verbose) {
      const what = isDir ? `${res.entriesExtracted} entries` : `${res.bytesReceived} bytes, sha256 ${Buffer.from(res.sha256).toString("hex")}`;
      io.out.write(`${local} → ${res.entry?.path ?? path} (${what})\n`);
    }
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.NotFound && !o.parents && !isDir) {
      throw new CliError("NOT_FOUND", `${err.rawMessage} (is the parent directory missing? -p creates it)`);
    }
    throw err;
  } finally {
    progress.stop();
  }
}

export function registerPut(program: Command): void {
  const cmd = program
    .command("put")
    .description("upload a file (atomic, size and SHA-256 checked) or a directory (as tar, extracted into REMOTE)")
    .argument("<local>", "local file or directory")
    .argument("<remote>", `${REMOTE_SYNTAX}; a file goes inside REMOTE when it is a directory or ends with /`)
    .option("-f, --overwrite", "replace existing files (default: fail with ALREADY_EXISTS)")
    .option("-p, --parents", "create missing parent directories")
    .option("-m, --mode <octal>", "permission bits of an uploaded file (default 0644, or the replaced file's)")
    .option("--uid <n>", "owner uid (default: the container's default user; a directory keeps the local ids)")
    .option("--gid <n>", "owner gid")
    .option("--no-progress", "no progress bar (it shows only when stderr is a terminal)")
    .option("-v, --verbose", "print what was uploaded");
  addTargetOptions(cmd).action(
    action(
      ([local, target], opts) =>
        ({ ...opts, local: local!, target: target!, overwrite: !!opts.overwrite, parents: !!opts.parents, progress: opts.progress !== false, verbose: !!opts.verbose }) as PutOptions,
      validatePut,
      runPut,
    ),
  );
}
