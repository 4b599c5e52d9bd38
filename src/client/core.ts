// The calls every build of the client shares (Node and browser): list, stat, download as a
// verified stream, the mutations, and the resumable chunked upload. The transports differ
// (connect-node gRPC with zero-copy transfers in Node, connect-web in the browser); the hashing
// too (node:crypto, or sha256.ts). Errors are PodfilesErrors.
import type { Client } from "@connectrpc/connect";
import {
  type ContainerInfo,
  type DigestAlgorithm,
  type DiskUsageEntry,
  type FileService,
  type FindMatch,
  OverwritePolicy,
  type FileEntry,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import { copyBetween, type CopyOptions, type CopyResult } from "./copy.js";
import { Crc32 } from "./crc32.js";
import { DownloadStream, type DownloadPart, type ProgressCallback } from "./download-stream.js";
import { listContainers, type ListContainersOptions } from "./list-containers.js";
import { PodfilesError } from "./errors.js";
import { digestAlgorithmOf, digestOption, type DigestResult } from "./digest.js";
import type { DigestName, HasherFactory, StreamHasher } from "./hasher.js";
import { diskUsage, type DiskUsageOptions } from "./disk-usage.js";
import { find, type FindOptions } from "./find.js";
import { tail, type TailChunk, type TailOptions } from "./tail.js";
import { resolveTarget, type ContainerRef, type ResolvedTarget, type Target } from "./target.js";

export type FileServiceClient = Client<typeof FileService>;

export interface CallOptions {
  signal?: AbortSignal;
  /** milliseconds for the whole call */
  timeoutMs?: number;
}

export interface ListOptions extends CallOptions {
  /** names starting with "." too */
  hidden?: boolean;
  recursive?: boolean;
  /** with recursive: levels below the directory (0 = no limit) */
  maxDepth?: number;
  /** entries per response message (0 = the server's default) */
  pageSize?: number;
}

export interface StatOptions extends CallOptions {
  /** follow a final symlink (inside the container) */
  followSymlinks?: boolean;
}

export interface DownloadOptions extends CallOptions {
  /** first byte (raw files): resume or a range */
  offset?: number;
  /** bytes from offset (0 or undefined: to the end) */
  length?: number;
  /** bytes per message, 16 KiB–4 MiB (server default 1 MiB) */
  chunkSize?: number;
  onProgress?: ProgressCallback;
  /** the digest the server computes and this client checks (default sha256; crc32 is faster, none checks sizes only) */
  digest?: DigestName;
}

export type OverwriteMode = "fail" | "overwrite";

export interface UploadOptionsBase extends CallOptions {
  /** an existing file: "fail" (ALREADY_EXISTS, the default) or "overwrite" (atomically replaced) */
  overwrite?: OverwriteMode;
  /** permission bits (default 0644, or the replaced file's) */
  mode?: number;
  uid?: number;
  gid?: number;
  /** create missing parent directories */
  makeParents?: boolean;
  onProgress?: ProgressCallback;
  /** the digest computed here and checked by the server before it commits (default sha256; crc32 is faster, none checks the size only) */
  digest?: DigestName;
  /** the remote file's modification time (servers reaching a container through exec keep whole seconds) */
  modifiedTime?: Date;
}

export interface UploadResult extends DigestResult {
  entry?: FileEntry;
  /** bytes the server received in this call */
  bytes: number;
  /** hex SHA-256 of those bytes, as the server computed it ("" with another digest) */
  sha256: string;
  /** where the upload started (> 0 when it resumed) */
  offset: number;
  /** tar uploads: entries extracted */
  entries?: number;
}

export interface ClientCore {
  /** entries of a directory (or the tree, with recursive), streamed */
  list(target: Target, options?: ListOptions): AsyncIterable<FileEntry>;
  stat(target: Target, options?: StatOptions): Promise<FileEntry>;
  /** the file's bytes (a directory: a tar stream), length and SHA-256 checked */
  download(target: Target, options?: DownloadOptions): DownloadStream;
  mkdir(target: Target, options?: CallOptions & { parents?: boolean; mode?: number }): Promise<FileEntry>;
  remove(target: Target, options?: CallOptions & { recursive?: boolean }): Promise<void>;
  rename(target: Target, newPath: string, options?: CallOptions & { overwrite?: boolean }): Promise<FileEntry>;
  /** a file or a tree from one container to another, copied by the agents (never through this client) */
  copy(source: Target, destination: Target, options?: CopyOptions): Promise<CopyResult>;
  /** entries below a directory matching a name glob, regex, type, size, mtime; streamed */
  find(target: Target, options?: FindOptions): AsyncIterable<FindMatch>;
  /** per-directory totals, children before their parent, the directory itself last; streamed */
  diskUsage(target: Target, options?: DiskUsageOptions): AsyncIterable<DiskUsageEntry>;
  /** a file's last lines or from an offset and, with follow, what is appended (until the signal aborts) */
  tail(target: Target, options?: TailOptions): AsyncIterable<TailChunk>;
  /** the containers the caller may read (ListContainers), streamed */
  containers(options?: ListContainersOptions): AsyncIterable<ContainerInfo>;
}

export const overwritePolicy = (mode: OverwriteMode | undefined) => (mode === "overwrite" ? OverwritePolicy.OVERWRITE : OverwritePolicy.FAIL);

/** A generated client's call wrapped so that every failure is a PodfilesError. */
export async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw PodfilesError.from(err);
  }
}

export interface CoreDeps {
  rpc: FileServiceClient;
  hasher: HasherFactory;
  /** CRC-32 (default: crc32.ts) */
  crc32?: HasherFactory;
  /** the SHA-256 downloads are checked with (default: hasher), e.g. one hashing in a Web Worker */
  downloadSha256?: () => StreamHasher;
  container?: ContainerRef;
  /** the Download call's messages; the default goes through `rpc` */
  downloadParts?: (
    req: ResolvedTarget & { offset: bigint; length: bigint; chunkSize: number; digestAlgorithm?: DigestAlgorithm },
    options: CallOptions,
  ) => AsyncIterable<DownloadPart>;
}

export function createCore(deps: CoreDeps): ClientCore & { resolve(target: Target): ResolvedTarget } {
  const { rpc, hasher } = deps;
  const resolve = (t: Target) => resolveTarget(t, deps.container);
  const downloadParts =
    deps.downloadParts ??
    (async function* (req, options) {
      for await (const m of rpc.download(req, options)) yield m.part;
    } satisfies CoreDeps["downloadParts"]);

  return {
    resolve,
    async *list(target, o = {}) {
      const req = { ...resolve(target), includeHidden: !!o.hidden, recursive: !!o.recursive, maxDepth: o.maxDepth ?? 0, pageSize: o.pageSize ?? 0 };
      try {
        for await (const batch of rpc.listFiles(req, o)) yield* batch.entries;
      } catch (err) {
        throw PodfilesError.from(err);
      }
    },
    async stat(target, o = {}) {
      const res = await call(() => rpc.stat({ ...resolve(target), followSymlinks: !!o.followSymlinks }, o));
      return res.entry!;
    },
    download(target, o = {}) {
      const t = resolve(target);
      const req = { ...t, offset: BigInt(o.offset ?? 0), length: BigInt(o.length ?? 0), chunkSize: o.chunkSize ?? 0 };
      // without the option the request is what it was before the choice existed (the server's default: SHA-256)
      const digest = o.digest === undefined ? undefined : digestOption(o.digest);
      const parts = downloadParts(digest ? { ...req, digestAlgorithm: digestAlgorithmOf(digest) } : req, o);
      const hashers = { sha256: deps.downloadSha256 ?? hasher, crc32: deps.crc32 ?? (() => new Crc32()) };
      return new DownloadStream(parts, t.path, hashers, o.onProgress, digest);
    },
    async mkdir(target, o = {}) {
      return (await call(() => rpc.makeDirectory({ ...resolve(target), parents: !!o.parents, mode: o.mode }, o))).entry!;
    },
    async remove(target, o = {}) {
      await call(() => rpc.remove({ ...resolve(target), recursive: !!o.recursive }, o));
    },
    async rename(target, newPath, o = {}) {
      return (await call(() => rpc.rename({ ...resolve(target), newPath, overwrite: !!o.overwrite }, o))).entry!;
    },
    copy: (source, destination, o) => copyBetween(rpc, resolve, source, destination, o),
    find: (target, o) => find(rpc, resolve(target), o),
    diskUsage: (target, o) => diskUsage(rpc, resolve(target), o),
    tail: (target, o) => tail(rpc, resolve(target), o),
    containers: (o) => listContainers(rpc, o),
  };
}
