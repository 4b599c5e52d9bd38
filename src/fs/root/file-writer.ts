// Atomic file writes: data goes to a temp file in the target's own directory
// (opened through the pinned, confined parent fd), gets its owner and mode, is
// fsynced, and only then takes the target's name. A failed or cancelled write
// removes the temp file, so a half-written file never appears.
// Append (resume) writes into the existing file, in order, so a killed server
// leaves the original bytes plus a prefix of the new ones, which a resumed
// append (offset = the file's size) continues; a failed append truncates back.
// Every writer first claims its target (target-claims.ts): one writer per file.
import * as fs from "node:fs";
import { ConfinedRoot } from "../confine/index.js";
import type { Entry, FileTime, FileWriter, WriteOptions } from "../container-fs.js";
import { failedPrecondition, invalidArgument, targetExists } from "../../errors.js";
import { releaseChunk } from "../headroom.js";
import {
  acquireBlock,
  BLOCK_BYTES,
  DIRECT_AFTER_BYTES,
  DIRECT_ALIGN,
  directWritesEnabled,
  directWriteStats,
  openDirect,
  releaseBlock,
} from "../../direct-io.js";
import { uploadMode } from "../upload-mode.js";
import { entryFromStats } from "./entries.js";
import { closeQuietly, fchmod, fchown, fstat, fsync, ftruncate, futimes, writeAll } from "./fs-sys.js";
import type { RootContext } from "./context.js";
import { makeDirectories } from "./mutate.js";
import { sweepDirectoryOnce } from "./stale-temp-files.js";
import { claimTarget, fileKey, nameKey, type TargetClaim } from "./target-claims.js";
import { tempNameFor } from "./temp-names.js";

const DEFAULT_FILE_MODE = 0o644;
const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_RDONLY, O_DIRECTORY } = fs.constants;

export async function createWriter(ctx: RootContext, path: string, options: WriteOptions): Promise<FileWriter> {
  if (path === "/") throw invalidArgument("cannot write to the container root");
  if (options.makeParents) await makeDirectories(ctx, parentOf(path), { mode: 0o755 });
  return options.overwrite === "append" ? AppendWriter.open(ctx, path, options) : TempFileWriter.open(ctx, path, options);
}

const parentOf = (path: string) => path.slice(0, path.lastIndexOf("/")) || "/";

/**
 * The directory a writer creates its file in, opened by the caller (a tar extraction keeps its
 * directories open across members, extract-directories.ts): the writer neither closes it nor
 * reopens it to fsync it, and never makes parents.
 */
export interface OpenParent {
  /** fd of the directory (O_PATH or open), confined and pinned by the caller */
  fd: number;
  /** its fstat */
  st: fs.BigIntStats;
  /** fsyncs the directory once the file has its name */
  sync(): Promise<void>;
}

/** A temp-file writer (create or overwrite, never append) of `name` in a directory the caller holds open. */
export async function createWriterIn(
  ctx: RootContext,
  parent: OpenParent,
  name: string,
  path: string,
  options: WriteOptions,
): Promise<FileWriter & { commitQuietly(): Promise<void> }> {
  if (options.overwrite === "append") throw invalidArgument(`${path}: append needs createWriter`);
  return TempFileWriter.openIn(ctx, { dirFd: parent.fd, dir: parent.st, name, close: () => undefined, sync: () => parent.sync() }, path, options);
}

/** What TempFileWriter writes into: the directory, the target's name in it and how to let it go. */
interface WriterParent {
  dirFd: number;
  /** fstat of dirFd, when the caller has it */
  dir?: fs.BigIntStats;
  name: string;
  close(): void;
  sync(): Promise<void>;
}

/** Writes queued per file: the next chunk arrives and is hashed while the one before is written. */
const WRITES_IN_FLIGHT = 2;

/**
 * The lifecycle both writers share: write() queues positional writes (a few queued, so receiving
 * and writing overlap; each starts once the one before it is in the file, so the file only ever
 * grows by a prefix of the data, never with a hole), commit() waits for them and makes the data
 * final (persist) or, when that fails, undoes it (abort, which also waits for queued writes first:
 * a late write must not land after the undo); either way the fds and the target's claim are
 * released once.
 */
abstract class SettlingWriter implements FileWriter {
  written = 0n;
  private finished = false;
  private readonly inFlight = new Set<Promise<void>>();
  private last: Promise<void> = Promise.resolve();
  private failure: unknown;
  /** src/direct-io.ts: "later" until the file is large enough, "staging" while blocks go direct */
  private direct: "off" | "later" | "staging";
  private directFd?: number;
  private directRefused = false;
  /** the aligned block being filled, and the file position of its first byte */
  private block?: Uint8Array;
  private blockFill = 0;
  private blockAt = 0;

  protected constructor(
    protected readonly ctx: RootContext,
    protected readonly path: string,
    protected readonly fd: number,
    /** file offset of the first byte this writer writes */
    private readonly startOffset: bigint,
    private readonly claim: TargetClaim,
    /** a new file: its bulk may go through O_DIRECT (src/direct-io.ts) */
    directAllowed: boolean,
  ) {
    this.direct = directAllowed && directWritesEnabled ? "later" : "off";
  }

  /**
   * Queues the chunk's write and resolves once fewer than WRITES_IN_FLIGHT are pending. The writer
   * owns the chunk from now on (the caller must not change it); a pooled chunk (fs/headroom.ts)
   * goes back to the pool once written (or copied into an aligned block). A write error is thrown by
   * a later write, flush or commit; the writes queued after a failed one are skipped.
   */
  async write(chunk: Uint8Array): Promise<void> {
    this.throwIfFailed();
    const position = Number(this.startOffset + this.written);
    this.written += BigInt(chunk.length);
    if (this.direct === "later" && position + chunk.length > DIRECT_AFTER_BYTES) await this.startDirect(position);
    if (this.direct !== "staging") {
      this.queue(
        () => writeAll(this.fd, chunk, position),
        () => releaseChunk(chunk),
      );
    } else {
      // the bytes before the first aligned block through the page cache, the rest copied into blocks
      const head = Math.min(chunk.length, Math.max(0, this.blockAt + this.blockFill - position));
      if (head > 0) this.queue(() => writeAll(this.fd, chunk.subarray(0, head), position));
      const staged = this.stage(chunk, head);
      if (staged < chunk.length) this.queue(() => writeAll(this.fd, chunk.subarray(staged), position + staged));
      if (head > 0 || staged < chunk.length)
        this.queue(
          async () => undefined,
          () => releaseChunk(chunk),
        );
      else releaseChunk(chunk);
    }
    while (this.inFlight.size >= WRITES_IN_FLIGHT) await Promise.race(this.inFlight);
    this.throwIfFailed();
  }

  /** Opens the direct descriptor; blocks start at the first aligned position from max(position, DIRECT_AFTER_BYTES). */
  private async startDirect(position: number): Promise<void> {
    this.directFd ??= await openDirect(this.fd);
    if (this.directFd === undefined) {
      this.direct = "off";
      return;
    }
    this.blockAt = Math.ceil(Math.max(position, DIRECT_AFTER_BYTES) / DIRECT_ALIGN) * DIRECT_ALIGN;
    this.blockFill = 0;
    this.direct = "staging";
  }

  /**
   * Copies chunk[from..] into aligned blocks, queueing each full block's direct write; returns how
   * far it got (short of the end only when no block is free: the rest then goes through the page
   * cache, and so does the rest of the file).
   */
  private stage(chunk: Uint8Array, from: number): number {
    let at = from;
    while (at < chunk.length) {
      if (!this.block) {
        this.block = acquireBlock();
        this.blockFill = 0;
        if (!this.block) {
          this.direct = "off";
          return at;
        }
      }
      const n = Math.min(BLOCK_BYTES - this.blockFill, chunk.length - at);
      this.block.set(chunk.subarray(at, at + n), this.blockFill);
      this.blockFill += n;
      at += n;
      if (this.blockFill === BLOCK_BYTES) this.writeBlock();
    }
    return at;
  }

  /**
   * Queues the staged block's write: its aligned part direct (all of it when the block is full),
   * the rest through the page cache, and all of it there once the filesystem refused O_DIRECT.
   */
  private writeBlock(): void {
    const block = this.block!;
    const length = this.blockFill;
    const position = this.blockAt;
    this.block = undefined;
    this.blockFill = 0;
    this.blockAt += length;
    const directLength = position % DIRECT_ALIGN === 0 ? length - (length % DIRECT_ALIGN) : 0;
    this.queue(
      async () => {
        if (this.directRefused || this.directFd === undefined || directLength === 0) return writeAll(this.fd, block.subarray(0, length), position);
        try {
          await writeAll(this.directFd, block.subarray(0, directLength), position);
          directWriteStats.directBytes += directLength;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EINVAL") throw err;
          // the filesystem takes no O_DIRECT (or wants another alignment): this block and the rest via the page cache
          this.directRefused = true;
          directWriteStats.refusedBlocks++;
          return writeAll(this.fd, block.subarray(0, length), position);
        }
        if (directLength < length) await writeAll(this.fd, block.subarray(directLength, length), position + directLength);
      },
      () => releaseBlock(block),
    );
  }

  /** Chains a write after the ones before it (so the file only grows by a prefix); `done` runs once it settled. */
  private queue(task: () => Promise<void>, done?: () => void): void {
    const pending: Promise<void> = this.last
      .then(() => (this.failure === undefined ? task() : undefined))
      .then(
        () => done?.(),
        (err: unknown) => {
          this.failure ??= err;
          done?.();
        },
      );
    this.last = pending;
    this.inFlight.add(pending);
    void pending.finally(() => this.inFlight.delete(pending));
  }

  /** Waits until every queued write is in the file (page cache or disk), the staged tail included. */
  async flush(): Promise<void> {
    if (this.block && this.blockFill > 0) this.writeBlock();
    if (this.direct === "staging") this.direct = "later";
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  /** Makes the written data final under the target's name. */
  protected abstract persist(): Promise<void>;
  /** Undoes what was written (best effort). */
  protected abstract discard(): Promise<void>;

  /** Closes what the writer holds open and frees its target; runs once. */
  protected release(): void {
    closeQuietly(this.fd);
    closeQuietly(this.directFd);
    if (this.block) releaseBlock(this.block);
    this.block = undefined;
    this.claim.release();
  }

  async commit(): Promise<Entry> {
    return this.settle(async () => entryFromStats(this.path, await fstat(this.fd, { bigint: true }), await this.ctx.names()));
  }

  /** commit() without the entry it returns (one fstat fewer per member of a tar). */
  commitQuietly(): Promise<void> {
    return this.settle(async () => undefined);
  }

  /** Flushes and persists, then `then` while the fd is still open; aborts when any of it fails. */
  private async settle<T>(then: () => Promise<T>): Promise<T> {
    try {
      await this.flush();
      await this.persist();
      return await then();
    } catch (err) {
      await this.abort();
      throw err;
    } finally {
      this.finish();
    }
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    await Promise.all(this.inFlight);
    await this.discard().catch(() => undefined);
    this.finish();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.release();
  }
}

class TempFileWriter extends SettlingWriter {
  private constructor(
    ctx: RootContext,
    path: string,
    private readonly parent: WriterParent,
    private readonly tempName: string,
    fd: number,
    private readonly options: WriteOptions,
    private readonly mode: number,
    claim: TargetClaim,
  ) {
    super(ctx, path, fd, 0n, claim, true);
  }

  static async open(ctx: RootContext, path: string, options: WriteOptions): Promise<TempFileWriter> {
    const opened = await ctx.root.openParent(path);
    return TempFileWriter.openIn(ctx, { ...opened, sync: () => syncDirectory(ctx, opened.dirFd, path) }, path, options);
  }

  /** Opens the temp file in parent; closes parent when that fails. */
  static async openIn(ctx: RootContext, parent: WriterParent, path: string, options: WriteOptions): Promise<TempFileWriter> {
    try {
      const at = (n: string) => ConfinedRoot.fdPath(parent.dirFd, n);
      const dir = parent.dir ?? (await fstat(parent.dirFd, { bigint: true }));
      const existing = await fs.promises.lstat(at(parent.name), { bigint: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") return undefined;
        throw err;
      });
      if (existing) {
        if (options.overwrite === "fail") throw targetExists(path);
        if ((Number(existing.mode) & fs.constants.S_IFMT) === fs.constants.S_IFDIR) throw failedPrecondition(`${path}: is a directory`);
      }
      const kept = existing && isRegular(existing) ? Number(existing.mode) : DEFAULT_FILE_MODE;
      const mode = uploadMode(options.mode ?? kept, options.allowSetid ?? false);
      const tempName = tempNameFor(parent.name);
      const keys = [nameKey(dir, parent.name), nameKey(dir, tempName), ...(existing ? [fileKey(existing)] : [])];
      const claim = claimTarget(path, keys, options.holder ?? "an upload");
      let fd: number;
      try {
        fd = await ctx.openAt(parent.dirFd, tempName, path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      } catch (err) {
        claim.release();
        throw err;
      }
      await sweepDirectoryOnce(ctx, parent.dirFd, dir, parentOf(path));
      return new TempFileWriter(ctx, path, parent, tempName, fd, options, mode, claim);
    } catch (err) {
      parent.close();
      throw err;
    }
  }

  protected async persist(): Promise<void> {
    const at = (n: string) => ConfinedRoot.fdPath(this.parent.dirFd, n);
    if (this.ctx.root.commitsFiles) {
      // the chain below in one threadpool job (the addon's commitFile): 6 round trips → 1
      await this.commitNatively(at);
      await this.parent.sync();
      return;
    }
    // owner before mode: chown(2) clears setuid/setgid, which --allow-setid must be able to keep
    await applyOwner(this.ctx, this.fd, this.options);
    await fchmod(this.fd, this.mode);
    await setModifiedTime(this.fd, this.options.modifiedTime);
    await fsync(this.fd);
    await this.takeName(at);
    await this.parent.sync();
  }

  private async commitNatively(at: (name: string) => fs.PathLike): Promise<void> {
    const noReplace = this.options.overwrite !== "overwrite";
    const { uid, gid } = ownerIds(this.ctx, this.options);
    try {
      const attributes = { uid, gid, mode: this.mode, time: this.options.modifiedTime };
      // under the hang guard, as the opens are: a commit stuck on a hung mount counts against its caps
      await this.ctx.guard.run(this.path, () =>
        this.ctx.root.commitFile(this.fd, attributes, this.parent.dirFd, this.tempName, this.parent.name, noReplace, this.path),
      );
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.syscall !== "renameat2") throw err;
      if (e.code === "EEXIST" && noReplace) throw targetExists(this.path);
      // a filesystem without RENAME_NOREPLACE (EINVAL): the data and attributes are final, the name as below
      if (!noReplace || (e.code !== "EINVAL" && e.code !== "ENOSYS")) throw err;
      await this.takeName(at);
    }
  }

  /** The temp file takes the target's name: replacing it, or never (link + unlink, EEXIST: ALREADY_EXISTS). */
  private async takeName(at: (name: string) => fs.PathLike): Promise<void> {
    if (this.options.overwrite === "overwrite") {
      await fs.promises.rename(at(this.tempName), at(this.parent.name));
    } else {
      // link(2) fails with EEXIST instead of replacing: a no-replace rename.
      await fs.promises.link(at(this.tempName), at(this.parent.name)).catch((err: NodeJS.ErrnoException) => {
        if (err.code === "EEXIST") throw targetExists(this.path);
        throw err;
      });
      await fs.promises.unlink(at(this.tempName));
    }
  }

  protected async discard(): Promise<void> {
    await fs.promises.unlink(ConfinedRoot.fdPath(this.parent.dirFd, this.tempName));
  }

  protected override release(): void {
    super.release();
    this.parent.close();
  }
}

class AppendWriter extends SettlingWriter {
  private constructor(
    ctx: RootContext,
    path: string,
    fd: number,
    private readonly startSize: bigint,
    private readonly options: WriteOptions,
    claim: TargetClaim,
  ) {
    super(ctx, path, fd, startSize, claim, false);
  }

  static async open(ctx: RootContext, path: string, options: WriteOptions): Promise<AppendWriter> {
    const targetKey = await ctx.inParent(path, async (dirFd, name) => nameKey(await fstat(dirFd, { bigint: true }), name));
    const { fd } = await ctx.openRegular(path, O_WRONLY, { verb: "append to" });
    let claim: TargetClaim | undefined;
    try {
      const st = await fstat(fd, { bigint: true });
      if (!isRegular(st)) throw failedPrecondition(`${path}: append needs a regular file`);
      claim = claimTarget(path, [targetKey, fileKey(st)], options.holder ?? "an upload");
      if (st.size !== options.offset) {
        throw failedPrecondition(`${path}: append offset ${options.offset} does not match the file's size ${st.size}; resume from ${st.size}`);
      }
      // before the first byte: appended data never runs with the file's setuid/setgid bits
      const mode = Number(st.mode) & 0o7777;
      const allowed = uploadMode(mode, options.allowSetid ?? false);
      if (allowed !== mode) await fchmod(fd, allowed);
      return new AppendWriter(ctx, path, fd, st.size, options, claim);
    } catch (err) {
      claim?.release();
      closeQuietly(fd);
      throw err;
    }
  }

  protected async persist(): Promise<void> {
    await applyOwner(this.ctx, this.fd, this.options, false);
    if (this.options.mode !== undefined) await fchmod(this.fd, uploadMode(this.options.mode, this.options.allowSetid ?? false));
    await setModifiedTime(this.fd, this.options.modifiedTime);
    await fsync(this.fd);
  }

  /**
   * A failed append leaves the file as it was before: truncated back to where it started, but only
   * while the file ends within what this writer wrote. A file that grew beyond that (a process in
   * the container appended) or shrank below the start keeps its size: truncating it would destroy
   * bytes this writer did not write (or, below the start, grow it with zeros).
   */
  protected async discard(): Promise<void> {
    const { size } = await fstat(this.fd, { bigint: true });
    if (size > this.startSize && size <= this.startSize + this.written) await ftruncate(this.fd, Number(this.startSize));
  }
}

const isRegular = (st: fs.BigIntStats) => (Number(st.mode) & fs.constants.S_IFMT) === fs.constants.S_IFREG;

/** Caller's ids, else the container's default owner (new files only), else leave the server's. */
export async function applyOwner(ctx: RootContext, fd: number, ids: { uid?: number; gid?: number }, useDefault = true): Promise<void> {
  const { uid, gid } = ownerIds(ctx, ids, useDefault);
  if (uid !== -1 || gid !== -1) await fchown(fd, uid, gid);
}

/** The ids a new file gets: the caller's, else the container's default owner (with useDefault); -1 keeps the process's. */
function ownerIds(ctx: RootContext, ids: { uid?: number; gid?: number }, useDefault = true): { uid: number; gid: number } {
  const fallback = useDefault ? ctx.defaultOwner : undefined;
  return { uid: ids.uid ?? fallback?.uid ?? -1, gid: ids.gid ?? fallback?.gid ?? -1 };
}

/**
 * Sets both times. Node takes them as a double of seconds (about 0.24 µs apart at today's dates),
 * which may land just below the time asked, and Node 20's libuv then truncates to microseconds:
 * measured, 1796061603.998 s became …603.997999 s, listed as .997. When the double is below the
 * time asked it is moved up by one step of the double, so a listing's millisecond is the one asked
 * for; whole seconds are exact doubles and land exactly (Node 24 keeps nanoseconds: a fixed
 * half-microsecond nudge showed there as 1600000000.000000476).
 */
async function setModifiedTime(fd: number, time: FileTime | undefined): Promise<void> {
  if (!time) return;
  const seconds = Number(time.seconds);
  let t = seconds + time.nanos / 1e9;
  if ((t - seconds) * 1e9 < time.nanos) t += 2 ** (Math.floor(Math.log2(Math.abs(t))) - 52);
  await futimes(fd, t, t);
}

/** fsync the directory so the rename survives a crash. */
async function syncDirectory(ctx: RootContext, dirFd: number, path: string): Promise<void> {
  const fd = await ctx.openAt(dirFd, "", path, O_RDONLY | O_DIRECTORY);
  try {
    await fsync(fd);
  } finally {
    closeQuietly(fd);
  }
}
