// ExecFs: the second ContainerFs. Every operation is a command run inside the container through
// pods/exec (exec-channel.ts), using the tools the image has (stat, find, dd, cat, tar, mkdir, rm,
// mv, ln, chmod, readlink). Confinement is the container's own: the commands run in its mount
// namespace as its user. Paths are still cleaned (cleanPath) and always absolute, and every path
// argument follows `--` (or is an `if=`/`of=` operand), so neither `..` nor a leading `-` can
// become anything but a path.
import { randomBytes } from "node:crypto";
import { posix } from "node:path";
import type {
  ContainerFs,
  DiskUsageEntry,
  Entry,
  ExtractOptions,
  ExtractResult,
  FileWriter,
  FindMatch,
  FindOptions,
  ListOptions,
  ReadOptions,
  ReadStream,
  TailChunk,
  WriteOptions,
} from "../container-fs.js";
import { cleanPath } from "../confine/clean-path.js";
import { alreadyExists, cannotOpenType, dataLoss, failedPrecondition, invalidArgument, outOfRange, targetExists } from "../../errors.js";
import { idNames, parseIdFile, type IdNames } from "../id-names.js";
import { uploadMode } from "../upload-mode.js";
import { wireFromBytes } from "../name-bytes.js";
import type { Arg, ExecDialer, ExecProcess } from "./exec-channel.js";
import { execFind } from "./exec-find.js";
import { ExecRunner, pathArg } from "./exec-runner.js";
import { ExecWriter } from "./exec-writer.js";
import { entryFromRecord, parseStatRecords, STAT_FORMAT } from "./stat-lines.js";

const ID_NAMES_TTL_MS = 5_000;
const DEFAULT_FILE_MODE = 0o644;
const DEFAULT_DIR_MODE = 0o755;
/** A listing's stat output past this is refused (RESOURCE_EXHAUSTED would need paging through exec). */
const LIST_OUTPUT_MAX = 256 * 1024 * 1024;
const DD_BLOCK = 256 * 1024;
/** One stat record: six numbers and a path (paths from find may exceed PATH_MAX; 1 MiB is far beyond any). */
const RECORD_MAX = 1024 * 1024;
const READ_RESUMES = 3;
/** A tar archive ends with two 512-byte zero blocks. */
const TAR_END = 1024;
/** How long a failed tar upload's tar may take to see EOF and exit before its connection is cut. */
const TAR_ABORT_GRACE_MS = 10_000;

/** `if=<path>` for dd, as bytes when the path is not UTF-8. */
export const operand = (key: string, path: string): Arg => {
  const p = pathArg(path);
  return typeof p === "string" ? `${key}=${p}` : Buffer.concat([Buffer.from(`${key}=`), p]);
};

const parentOf = (path: string) => path.slice(0, path.lastIndexOf("/")) || "/";
const octal = (mode: number) => (mode & 0o7777).toString(8);

export class ExecFs implements ContainerFs {
  readonly description: string;
  readonly run: ExecRunner;
  private cachedNames?: { at: number; names: IdNames };

  constructor(dialer: ExecDialer) {
    this.run = new ExecRunner(dialer);
    this.description = `exec:${dialer.description}`;
  }

  private clean(path: string): string {
    return cleanPath(path);
  }

  async names(): Promise<IdNames> {
    if (this.cachedNames && Date.now() - this.cachedNames.at < ID_NAMES_TTL_MS) return this.cachedNames.names;
    const readId = (p: string) =>
      this.run.output(["cat", "--", p], { purpose: "owner names", maxOut: 4 << 20 }).then(
        (b) => b.toString("utf8"),
        () => "",
      );
    const [users, groups] = await Promise.all([readId("/etc/passwd"), readId("/etc/group")]);
    const names = idNames(parseIdFile(users), parseIdFile(groups));
    this.cachedNames = { at: Date.now(), names };
    return names;
  }

  /** stat of one clean path; NOT_FOUND etc. from its stderr. */
  private async statClean(path: string, follow: boolean, purpose = "stat"): Promise<Entry> {
    const argv = ["stat", ...(follow ? ["-L"] : []), "-c", STAT_FORMAT, "--", pathArg(path)];
    const [out, names] = await Promise.all([this.run.output(argv, { purpose, maxOut: 1 << 20 }), this.names()]);
    const { records } = parseStatRecords(out);
    if (records.length !== 1) throw new Error(`stat of ${path} printed ${records.length} records`);
    const entry = { ...entryFromRecord(records[0]!, names), path, name: path === "/" ? "/" : posix.basename(path) };
    if (!follow && entry.type === "symlink") entry.symlinkTarget = await this.readlink(path);
    return entry;
  }

  private async readlink(path: string): Promise<string | undefined> {
    const out = await this.run.output(["readlink", "--", pathArg(path)], { purpose: "symlink targets", maxOut: 1 << 20 }).catch(() => undefined);
    return out === undefined ? undefined : wireFromBytes(out.subarray(0, out.at(-1) === 0x0a ? -1 : undefined));
  }

  stat(path: string, options: { followSymlinks: boolean }): Promise<Entry> {
    return this.statClean(this.clean(path), options.followSymlinks);
  }

  async *list(path: string, options: ListOptions): AsyncGenerator<Entry> {
    const dir = this.clean(path);
    const top = await this.statClean(dir, true, "listing");
    if (top.type !== "directory") throw failedPrecondition(`${dir}: not a directory`);
    const depth = options.recursive ? options.maxDepth : 1;
    const names = await this.names();
    // -H: the top may be a symlink to a directory (like `ls dir/`); below it nothing is followed
    const argv = [
      "find",
      "-H",
      pathArg(dir),
      "-mindepth",
      "1",
      ...(depth > 0 ? ["-maxdepth", String(depth)] : []),
      ...(options.includeHidden ? [] : ["(", "-name", ".*", "-prune", ")", "-o"]),
      "-exec",
      "stat",
      "-c",
      STAT_FORMAT,
      "--",
      "{}",
      "+",
    ];
    const proc = await this.run.start(argv, { purpose: "listing", signal: options.signal });
    let pending: Buffer = Buffer.alloc(0);
    let total = 0;
    const symlinks: Entry[] = [];
    try {
      for await (const chunk of proc.stdout()) {
        total += chunk.length;
        if (total > LIST_OUTPUT_MAX) throw failedPrecondition(`${dir}: listing through exec is limited to ${LIST_OUTPUT_MAX} bytes of stat output`);
        pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
        const { records, used } = parseStatRecords(pending);
        pending = pending.subarray(used);
        if (pending.length > RECORD_MAX)
          throw failedPrecondition(`${dir}: stat printed ${pending.length} bytes that are no record (is stat in the image the real one?)`);
        for (const r of records) {
          const e = entryFromRecord(r, names);
          // find prints the path under the top as given: re-spell it from the clean top
          if (e.type === "symlink") symlinks.push(e);
          else yield e;
        }
      }
    } finally {
      proc.kill();
    }
    const result = await proc.done;
    // find exits 1 when an entry vanished or one subdirectory was unreadable: the rest is listed
    if (result.exitCode !== 0 && !(result.exitCode === 1 && result.stderr)) this.run.check(result, "find", "listing");
    for (const e of symlinks) yield { ...e, symlinkTarget: await this.readlink(e.path) };
  }

  async read(path: string, options: ReadOptions & { format: "raw" | "tar" | "auto" }): Promise<ReadStream> {
    const clean = this.clean(path);
    const entry = await this.statClean(clean, true, "download");
    if (entry.type === "directory") {
      if (options.format === "raw") throw failedPrecondition(`${clean}: is a directory (ask for the tar format)`);
      if (options.offset !== 0n || options.length !== 0n) throw invalidArgument("offset and length apply to files, not to directory tar streams");
      // tar's -C takes the directory as its option argument; "." is the only member named
      const proc = await this.run.start(["tar", "-c", "-f", "-", "-C", pathArg(clean), "."], { purpose: "directory download", signal: options.signal });
      return { entry, format: "tar", offset: 0n, chunks: this.checkedTar(proc, clean, options.chunkSize), close: async () => proc.kill() };
    }
    if (entry.type !== "regular") throw cannotOpenType(clean, "download", entry.type);
    if (options.format === "tar") throw failedPrecondition(`${clean}: tar downloads are for directories`);
    const size = entry.size;
    if (options.offset > size) throw outOfRange(`offset ${options.offset} is past the end of ${clean} (${size} bytes)`);
    const available = size - options.offset;
    const length = options.length === 0n || options.length > available ? available : options.length;
    const chunks = this.readRange(clean, options.offset, length, options.chunkSize, options.signal);
    return { entry, format: "raw", offset: options.offset, length, chunks: chunks.iterator, close: async () => chunks.close() };
  }

  /**
   * The bytes [offset, offset+length) of a file with dd. The API server may end an exec's stdout
   * early with a success status (measured: a 256 MiB download arrived 319,488 bytes short, exit 0,
   * once in four runs under load): a short read is resumed from where it stopped, at most
   * READ_RESUMES times, and fails DATA_LOSS after that.
   */
  private readRange(
    path: string,
    offset: bigint,
    length: bigint,
    chunkSize: number,
    signal?: AbortSignal,
  ): { iterator: AsyncGenerator<Uint8Array>; close(): void } {
    let current: ExecProcess | undefined;
    let closed = false;
    const self = this;
    async function* iterate(): AsyncGenerator<Uint8Array> {
      let got = 0n;
      for (let attempt = 0; got < length || attempt === 0; attempt++) {
        if (attempt > READ_RESUMES) throw dataLoss(`${path}: the exec stream ended ${length - got} bytes early ${READ_RESUMES + 1} times`);
        if (closed) return;
        const argv: Arg[] = ["dd", `bs=${DD_BLOCK}`, "iflag=skip_bytes,count_bytes", `skip=${offset + got}`, `count=${length - got}`, operand("if", path)];
        const proc = await self.run.start(argv, { purpose: "file download", signal });
        current = proc;
        try {
          for await (const chunk of proc.stdout(chunkSize)) {
            got += BigInt(chunk.length);
            yield chunk;
          }
          const result = await proc.done;
          self.run.check(result, "dd", "file download");
        } finally {
          proc.kill();
        }
        if (length === 0n) return;
      }
    }
    return {
      iterator: iterate(),
      close: () => {
        closed = true;
        current?.kill();
      },
    };
  }

  /** stdout, then the exit status checked: a failed command ends the stream with its error; a tar stream must end with its two zero blocks. */
  private async *checkedTar(proc: ExecProcess, path: string, chunkSize: number): AsyncGenerator<Uint8Array> {
    let tail = Buffer.alloc(0);
    try {
      for await (const chunk of proc.stdout(chunkSize)) {
        tail = Buffer.concat([tail, chunk.subarray(Math.max(0, chunk.length - TAR_END))]).subarray(-TAR_END);
        yield chunk;
      }
      this.run.check(await proc.done, "tar", "directory download");
      if (tail.length < TAR_END || tail.some((b) => b !== 0))
        throw dataLoss(`${path}: the tar stream from the container ended early (no end-of-archive blocks)`);
    } finally {
      proc.kill();
    }
  }

  async createWriter(path: string, options: WriteOptions): Promise<FileWriter> {
    const clean = this.clean(path);
    if (clean === "/") throw invalidArgument("cannot write to the container root");
    if (options.makeParents) await this.run.output(["mkdir", "-p", "--", pathArg(parentOf(clean))], { purpose: "upload" });
    const existing = await this.statClean(clean, false, "upload").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (options.overwrite === "append") {
      if (existing?.type !== "regular") throw failedPrecondition(`${clean}: append needs a regular file`);
      if (existing.size !== options.offset)
        throw failedPrecondition(`${clean}: append offset ${options.offset} does not match the file's size ${existing.size}; resume from ${existing.size}`);
      return ExecWriter.open(this, clean, clean, { ...options, mode: uploadMode(options.mode ?? existing.mode, options.allowSetid ?? false) }, true);
    }
    if (existing) {
      if (options.overwrite === "fail") throw targetExists(clean);
      if (existing.type === "directory") throw failedPrecondition(`${clean}: is a directory`);
    }
    const kept = existing?.type === "regular" ? existing.mode : DEFAULT_FILE_MODE;
    const mode = uploadMode(options.mode ?? kept, options.allowSetid ?? false);
    const temp = `${parentOf(clean) === "/" ? "" : parentOf(clean)}/.podfiles-exec-${randomBytes(6).toString("hex")}.part`;
    return ExecWriter.open(this, clean, temp, { ...options, mode }, false);
  }

  async extractTar(path: string, tar: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<ExtractResult> {
    const dir = this.clean(path);
    if (options.makeParents) await this.run.output(["mkdir", "-p", "--", pathArg(dir)], { purpose: "tar upload" });
    const argv = [
      "tar",
      "-x",
      "-v",
      "-f",
      "-",
      "-C",
      pathArg(dir),
      ...(options.overwrite === "fail" ? ["-k"] : []),
      ...(options.uid === undefined ? ["-o"] : []),
    ];
    const proc = await this.run.start(argv, { purpose: "tar upload", stdin: true });
    if (!proc.canCloseStdin) {
      proc.kill();
      throw failedPrecondition("tar upload through exec needs v5.channel.k8s.io (Kubernetes ≥ 1.30) to close stdin");
    }
    const listing = proc.readAll(64 << 20);
    try {
      for await (const chunk of tar) await proc.write(chunk);
      proc.closeStdin();
    } catch (err) {
      // tar must have exited before the caller removes what it extracted (a temp directory)
      await proc.finish(TAR_ABORT_GRACE_MS);
      throw err;
    }
    const out = await listing;
    this.run.check(await proc.done, "tar", "tar upload");
    const entries = out
      .toString("utf8")
      .split("\n")
      .filter((l) => l && l !== "./").length;
    return { entry: await this.statClean(dir, true), entries };
  }

  async mkdir(path: string, options: { parents: boolean; mode?: number }): Promise<Entry> {
    const clean = this.clean(path);
    const mode = octal(options.mode ?? DEFAULT_DIR_MODE);
    if (!options.parents) {
      if (clean === "/") throw alreadyExists("/: already exists");
      await this.run.output(["mkdir", "-m", mode, "--", pathArg(clean)], { purpose: "mkdir" });
    } else {
      await this.run.output(["mkdir", "-p", "-m", mode, "--", pathArg(clean)], { purpose: "mkdir" });
      const e = await this.statClean(clean, true, "mkdir");
      if (e.type !== "directory") throw failedPrecondition(`${clean}: exists and is not a directory`);
    }
    return this.statClean(clean, false, "mkdir");
  }

  async remove(path: string, options: { recursive: boolean }): Promise<void> {
    const clean = this.clean(path);
    if (clean === "/") throw invalidArgument("refusing to remove the container root");
    const e = await this.statClean(clean, false, "remove");
    if (e.type === "directory" && !options.recursive) {
      await this.run.output(["rmdir", "--", pathArg(clean)], { purpose: "remove" });
      return;
    }
    // rm -r never follows a symlink: a link is removed as a link
    // a big tree takes a while: 10 minutes, not the 30 s of a single-name command
    await this.run.output(["rm", ...(options.recursive ? ["-r"] : []), "-f", "--", pathArg(clean)], {
      purpose: "remove",
      timeoutMs: options.recursive ? 600_000 : undefined,
    });
  }

  async rename(from: string, to: string, options: { overwrite: boolean }): Promise<Entry> {
    const src = this.clean(from);
    const dst = this.clean(to);
    if (src === "/" || dst === "/") throw invalidArgument("cannot rename the container root");
    await this.statClean(src, false, "rename"); // NOT_FOUND names the source
    if (!options.overwrite) {
      // mv -n is silent when the target exists: check first, and again after (the source is still there)
      const exists = await this.statClean(dst, false, "rename").then(
        () => true,
        () => false,
      );
      if (exists) throw targetExists(dst);
    }
    // -T: `to` is the new name even when it is a directory (never "move into")
    await this.run.output(["mv", options.overwrite ? "-f" : "-n", "-T", "--", pathArg(src), pathArg(dst)], { purpose: "rename" });
    if (
      !options.overwrite &&
      (await this.statClean(src, false, "rename").then(
        () => true,
        () => false,
      ))
    ) {
      throw targetExists(dst);
    }
    return this.statClean(dst, false, "rename");
  }

  find(path: string, options: FindOptions): AsyncIterable<FindMatch> {
    return execFind(this, path, options);
  }

  // biome-ignore lint/correctness/useYield: refuses before any entry
  async *diskUsage(path: string): AsyncGenerator<DiskUsageEntry> {
    throw failedPrecondition(`${this.clean(path)}: DiskUsage needs the podfiles agent on the pod's node; through exec (the fallback) it is not available`);
  }

  // biome-ignore lint/correctness/useYield: refuses before any chunk
  async *tail(path: string): AsyncGenerator<TailChunk> {
    throw failedPrecondition(`${this.clean(path)}: Tail needs the podfiles agent on the pod's node; through exec (the fallback) it is not available`);
  }

  async close(): Promise<void> {}
}
