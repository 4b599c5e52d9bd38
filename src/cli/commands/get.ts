// podfiles get [--resume] REMOTE [LOCAL]
//   a file: written to LOCAL.part, checked against the trailer's SHA-256, then renamed onto LOCAL;
//           --resume continues LOCAL.part (or a partial LOCAL) from its size
//   a directory: a tar stream extracted into LOCAL (entries leaving LOCAL are refused)
//   LOCAL "-": the bytes (or the tar stream) go to stdout
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import type { Command } from "commander";
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ArchiveFormat, type DownloadHeader, type DownloadResponse } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { CliError, UsageError } from "./errors.js";
import { createProgress, type Progress } from "./progress.js";
import { REMOTE_SYNTAX, parseRemote, remoteBasename, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";
import { extractLocal } from "./tar-local.js";

export interface GetOptions extends TargetOptions {
  source: string;
  local?: string;
  resume: boolean;
  progress: boolean;
  verbose: boolean;
  remote?: RemotePath;
}

/** Bytes re-read before the resume point and compared with the partial file: catches a remote file that changed. */
export const RESUME_OVERLAP = 64 * 1024;

export function validateGet(o: GetOptions): void {
  o.remote = parseRemote(o.source, o);
  if (o.local === undefined || o.local === "") {
    const base = remoteBasename(o.remote.path);
    if (!base) throw new UsageError("get: name a LOCAL destination for the container's root");
    o.local = base;
  }
  if (o.resume && o.local === "-") throw new UsageError("--resume needs a LOCAL file, not stdout");
}

type Stream = AsyncIterator<DownloadResponse>;

async function readHeader(stream: Stream): Promise<DownloadHeader> {
  const first = await stream.next();
  if (first.done || first.value.part.case !== "header") throw new CliError("DATA_LOSS", "the download did not start with a header");
  return first.value.part.value;
}

/** The data messages; checks the trailer's digest and byte count against what arrived. */
async function* dataOf(stream: Stream, path: string, onData: (n: number) => void): AsyncGenerator<Uint8Array> {
  const hash = createHash("sha256");
  let received = 0n;
  for (;;) {
    const next = await stream.next();
    if (next.done) throw new CliError("DATA_LOSS", `${path}: the download ended without its trailer`);
    const part = next.value.part;
    if (part.case === "data") {
      hash.update(part.value);
      received += BigInt(part.value.length);
      onData(part.value.length);
      yield part.value;
    } else if (part.case === "trailer") {
      const got = hash.digest();
      if (part.value.bytesSent !== received) throw new CliError("DATA_LOSS", `${path}: received ${received} bytes, the server sent ${part.value.bytesSent}`);
      if (!got.equals(part.value.sha256)) {
        throw new CliError("DATA_LOSS", `${path}: SHA-256 mismatch (got ${got.toString("hex")}, server ${Buffer.from(part.value.sha256).toString("hex")})`);
      }
      return;
    }
  }
}

async function writeAll(out: NodeJS.WritableStream, chunks: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const c of chunks) if (!out.write(c)) await once(out, "drain");
}

const isDir = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
const sizeOf = (p: string) => fs.statSync(p, { throwIfNoEntry: false })?.size;

export async function runGet(o: GetOptions, conn: Connection, io: Io): Promise<void> {
  const { client } = conn;
  const { container, path } = o.remote!;
  const local = o.local!;
  const toStdout = local === "-";
  // A file lands in LOCAL, or in LOCAL/<name> when LOCAL is a directory.
  const fileTarget = !toStdout && isDir(local) ? join(local, remoteBasename(path) || "root") : local;
  const part = `${fileTarget}.part`;
  const warn = (m: string) => io.err.write(`podfiles: ${m}\n`);

  let offset = 0;
  if (o.resume) {
    const partSize = sizeOf(part);
    const localSize = fs.lstatSync(fileTarget, { throwIfNoEntry: false })?.isFile() ? sizeOf(fileTarget) : undefined;
    if (partSize !== undefined) offset = partSize;
    else if (localSize !== undefined) {
      // A partial LOCAL (from an interrupted copy by anything): continue a copy of it, keep LOCAL intact until the end.
      await fs.promises.copyFile(fileTarget, part, fs.constants.COPYFILE_FICLONE);
      offset = localSize;
    }
  }

  const abort = new AbortController();
  const overlap = Math.min(offset, RESUME_OVERLAP);
  let stream: Stream;
  let header: DownloadHeader;
  try {
    stream = client.download({ container, path, offset: BigInt(offset - overlap) }, { signal: abort.signal })[Symbol.asyncIterator]();
    header = await readHeader(stream);
  } catch (err) {
    if (offset > 0 && err instanceof ConnectError && err.code === Code.OutOfRange) {
      warn(`${part} is larger than ${path}; downloading it again from the start`);
      return runGet({ ...o, resume: false }, conn, io);
    }
    throw err;
  }
  if (offset > 0 && header.format !== ArchiveFormat.TAR && offset > Number(header.entry?.size ?? 0)) {
    abort.abort();
    warn(`${part} is larger than ${path}; downloading it again from the start`);
    return runGet({ ...o, resume: false }, conn, io);
  }
  try {
    const entry = header.entry!;
    const tarStream = header.format === ArchiveFormat.TAR;
    const label = tarStream ? `${remoteBasename(path) || "/"} (tar)` : remoteBasename(path);
    const total = header.length === undefined ? undefined : offset + Number(header.length) - overlap;
    const progress: Progress = createProgress(label, total, { enabled: o.progress });
    progress.add(offset - overlap);
    let data = dataOf(stream, path, (n) => progress.add(n));
    try {
      if (toStdout) {
        await writeAll(io.out, data);
      } else if (tarStream) {
        const dest = local;
        const result = await extractLocal(dest, data, warn);
        if (o.verbose) io.out.write(`${path} → ${dest}/ (${result.entries} entries)\n`);
      } else {
        if (overlap > 0) data = checkOverlap(data, part, offset, overlap, path);
        await receiveFile(data, part, offset);
        const size = sizeOf(part) ?? 0;
        if (size !== Number(entry.size)) throw new CliError("DATA_LOSS", `${path}: ${size} bytes arrived, the file has ${entry.size}; ${part} was kept (rerun with --resume)`);
        await fs.promises.chmod(part, entry.mode & 0o777);
        if (entry.modifyTime) {
          const mtime = timestampDate(entry.modifyTime);
          await fs.promises.utimes(part, mtime, mtime);
        }
        await fs.promises.rename(part, fileTarget);
        if (o.verbose) io.out.write(`${path} → ${fileTarget} (${size} bytes${offset > 0 ? `, resumed at ${offset}` : ""})\n`);
      }
    } finally {
      progress.stop();
    }
  } catch (err) {
    abort.abort();
    if (!toStdout && header.format !== ArchiveFormat.TAR) {
      if (err instanceof CliError && err.label === "DATA_LOSS" && /SHA-256 mismatch/.test(err.message)) await fs.promises.rm(part, { force: true });
      else if ((sizeOf(part) ?? 0) > 0 && !(err instanceof CliError)) warn(`partial download kept in ${part}; rerun with --resume to continue`);
    }
    throw err;
  }
}

/** Drops the first `overlap` bytes after checking that they equal the partial file's tail. */
async function* checkOverlap(data: AsyncIterable<Uint8Array>, part: string, offset: number, overlap: number, path: string): AsyncGenerator<Uint8Array> {
  const tail = Buffer.alloc(overlap);
  const fh = await fs.promises.open(part, "r");
  try {
    await fh.read(tail, 0, overlap, offset - overlap);
  } finally {
    await fh.close();
  }
  let seen = 0;
  for await (const chunk of data) {
    if (seen >= overlap) {
      yield chunk;
      continue;
    }
    const n = Math.min(overlap - seen, chunk.length);
    if (!tail.subarray(seen, seen + n).equals(chunk.subarray(0, n))) {
      throw new CliError("FAILED_PRECONDITION", `${path} changed since ${part} was written; download it again without --resume`);
    }
    seen += n;
    if (n < chunk.length) yield chunk.subarray(n);
  }
}

/** Appends to (or creates) the partial file and fsyncs it. */
async function receiveFile(data: AsyncIterable<Uint8Array>, part: string, offset: number): Promise<void> {
  const fh = await fs.promises.open(part, offset > 0 ? "r+" : "w", 0o600);
  try {
    if (offset > 0) await fh.truncate(offset);
    let position = offset;
    for await (const chunk of data) {
      let written = 0;
      while (written < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, written, chunk.length - written, position);
        written += bytesWritten;
        position += bytesWritten;
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function registerGet(program: Command): void {
  const cmd = program
    .command("get")
    .description("download a file (atomically, SHA-256 checked) or a directory (as tar, extracted into LOCAL)")
    .argument("<remote>", REMOTE_SYNTAX)
    .argument("[local]", 'local file or directory (default: the remote name in the current directory; "-" for stdout)')
    .option("--resume", "continue LOCAL.part (or a partial LOCAL) from its size")
    .option("--no-progress", "no progress bar (it shows only when stderr is a terminal)")
    .option("-v, --verbose", "print what was downloaded");
  addTargetOptions(cmd).action(
    action(
      ([source, local], opts) => ({ ...opts, source: source!, local, resume: !!opts.resume, progress: opts.progress !== false, verbose: !!opts.verbose }) as GetOptions,
      validateGet,
      runGet,
    ),
  );
}
