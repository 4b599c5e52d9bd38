// RootFs: a ContainerFs over a host directory that is the container's `/`
// (a local directory in demo mode, /proc/<pid>/root on a node). All path
// resolution goes through ConfinedRoot; the parts live in files of their own.
import type {
  ContainerFs,
  DiskUsageEntry,
  DiskUsageOptions,
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
  TailOptions,
  WriteOptions,
} from "../container-fs.js";
import { ConfinedRoot } from "../confine/index.js";
import { RootContext, type Owner } from "./context.js";
import { diskUsage } from "./disk-usage.js";
import { createWriter } from "./file-writer.js";
import { findEntries } from "./find.js";
import { listEntries } from "./list.js";
import { makeDirectory, remove, rename } from "./mutate.js";
import { openForRead } from "./read.js";
import { sweepTree, type SweepResult } from "./stale-temp-files.js";
import { tailFile } from "./tail.js";
import { extractTar } from "./tar-extract.js";

export interface RootFsOptions {
  /** The host directory that is the container's root. */
  root: string;
  /** Owner of new files when the caller names none (the image's user); default: the server's own ids. */
  defaultOwner?: Owner;
  /** Confinement strategy; default "auto" (openat2 where the kernel has it, else the verified walk). */
  strategy?: "auto" | "openat2" | "walk";
  /** Description for logs; default `root:<root>`. */
  description?: string;
  /**
   * Filesystem calls on container paths that have not answered after this long fail with
   * UNAVAILABLE (a hung mount); default 10 s. See hang-guard.ts for the caps on stuck calls.
   */
  fsDeadlineMs?: number;
}

export class RootFs implements ContainerFs {
  readonly description: string;
  private readonly ctx: RootContext;

  constructor(options: RootFsOptions) {
    const root = ConfinedRoot.open(options.root, { strategy: options.strategy ?? "auto" });
    this.ctx = new RootContext(root, options.defaultOwner, { deadlineMs: options.fsDeadlineMs });
    this.description = options.description ?? `root:${options.root}`;
  }

  get strategy(): string {
    return this.ctx.root.strategy;
  }

  stat(path: string, options: { followSymlinks: boolean }): Promise<Entry> {
    const clean = this.ctx.clean(path);
    return options.followSymlinks ? this.ctx.statEntry(clean) : this.ctx.lstatEntry(clean);
  }

  list(path: string, options: ListOptions): AsyncIterable<Entry> {
    return listEntries(this.ctx, this.ctx.clean(path), options);
  }

  read(path: string, options: ReadOptions & { format: "raw" | "tar" | "auto" }): Promise<ReadStream> {
    return openForRead(this.ctx, this.ctx.clean(path), options);
  }

  createWriter(path: string, options: WriteOptions): Promise<FileWriter> {
    return createWriter(this.ctx, this.ctx.clean(path), options);
  }

  extractTar(path: string, tar: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<ExtractResult> {
    return extractTar(this.ctx, this.ctx.clean(path), tar, options);
  }

  mkdir(path: string, options: { parents: boolean; mode?: number }): Promise<Entry> {
    return makeDirectory(this.ctx, this.ctx.clean(path), options);
  }

  remove(path: string, options: { recursive: boolean }): Promise<void> {
    return remove(this.ctx, this.ctx.clean(path), options);
  }

  rename(from: string, to: string, options: { overwrite: boolean }): Promise<Entry> {
    return rename(this.ctx, this.ctx.clean(from), this.ctx.clean(to), options);
  }

  find(path: string, options: FindOptions): AsyncIterable<FindMatch> {
    return findEntries(this.ctx, this.ctx.clean(path), options);
  }

  diskUsage(path: string, options: DiskUsageOptions): AsyncIterable<DiskUsageEntry> {
    return diskUsage(this.ctx, this.ctx.clean(path), options);
  }

  tail(path: string, options: TailOptions): AsyncIterable<TailChunk> {
    return tailFile(this.ctx, this.ctx.clean(path), options);
  }

  /** Removes temp files that uploads of a killed server left anywhere in the root (a bounded walk). */
  removeStaleTempFiles(options?: { maxEntries?: number }): Promise<SweepResult> {
    return sweepTree(this.ctx, options);
  }

  async close(): Promise<void> {
    this.ctx.root.close();
  }
}
