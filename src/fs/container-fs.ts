// The first seam: what a container's filesystem can do. RPC handlers talk to
// this interface only; RootFs (a confined host directory: a local dir or
// /proc/<pid>/root) implements it.
//
// Every `path` is absolute inside the container and is resolved as if the
// container's root were `/`.

export type EntryType = "regular" | "directory" | "symlink" | "fifo" | "socket" | "char-device" | "block-device" | "unknown";

export interface Entry {
  name: string;
  path: string;
  type: EntryType;
  size: bigint;
  /** st_mode: type and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Names from the container's /etc/passwd and /etc/group ("" when unknown). */
  user: string;
  group: string;
  mtimeMs: number;
  nlink: number;
  /** Set for symlinks: the target as stored. */
  symlinkTarget?: string;
}

export interface ListOptions {
  includeHidden: boolean;
  recursive: boolean;
  /** With recursive: levels below `path`; 0 = unlimited. */
  maxDepth: number;
  signal?: AbortSignal;
}

export interface ReadOptions {
  offset: bigint;
  /** 0n = to the end of the file. */
  length: bigint;
  chunkSize: number;
  signal?: AbortSignal;
}

/** An opened file or directory, ready to stream. */
export interface ReadStream {
  entry: Entry;
  format: "raw" | "tar";
  offset: bigint;
  /** Bytes that will follow, when known (raw files). */
  length?: bigint;
  /** Content chunks; each chunk is handed to the caller, never reused. */
  chunks: AsyncIterable<Uint8Array>;
  /** Frees the file handle; safe to call more than once. */
  close(): Promise<void>;
}

export type OverwriteMode = "fail" | "overwrite" | "append";

export interface WriteOptions {
  /** Permission bits; undefined = 0644, or the replaced file's mode on overwrite. */
  mode?: number;
  uid?: number;
  gid?: number;
  overwrite: OverwriteMode;
  /** With append: the current size of the target (resume point). */
  offset: bigint;
  makeParents: boolean;
  /** Keep setuid/setgid bits (the server's --allow-setid); by default every upload drops them. */
  allowSetid?: boolean;
  /** How another upload of the same target is told who holds it ("upload 3fa2c1d0"). */
  holder?: string;
  /** The file's modification (and access) time, set before it takes its name (files, not tar). */
  modifiedTime?: FileTime;
}

/** A point in time as a Timestamp carries it. */
export interface FileTime {
  seconds: bigint;
  nanos: number;
}

/** What a tar extraction takes of WriteOptions. */
export type ExtractOptions = Pick<WriteOptions, "uid" | "gid" | "makeParents" | "overwrite" | "allowSetid">;

/**
 * A file being written. Data goes to a temp file in the target directory;
 * commit() fsyncs and renames it into place, abort() removes it. For append,
 * data goes into the target, in order, and abort() truncates it back unless the
 * file changed size meanwhile. One writer per target at a time: a second one
 * is refused (ABORTED) until the first commits or aborts.
 */
export interface FileWriter {
  /** Bytes accepted so far by this writer (not counting an append offset); in the file after flush(). */
  readonly written: bigint;
  /** Queues a chunk (the writer owns it from now on); may resolve before it is in the file. */
  write(chunk: Uint8Array): Promise<void>;
  /** Resolves once everything accepted is in the file; throws a write's error. */
  flush(): Promise<void>;
  commit(): Promise<Entry>;
  abort(): Promise<void>;
}

export interface ExtractResult {
  entry: Entry;
  entries: number;
}

/** A digest computed while finding (for sync manifests). */
export type DigestKind = "sha256" | "crc32";

export interface FindOptions {
  /** A shell glob on the base name, as `find -name` (compiled by find-filter.ts). */
  nameGlob?: string;
  /** A JavaScript regular expression on the path below the search's top. */
  pathRegex?: string;
  /** Types to match; empty = every type. */
  types?: EntryType[];
  minSize?: bigint;
  maxSize?: bigint;
  /** Modified strictly after / before these times (ms since the epoch). */
  modifiedAfterMs?: number;
  modifiedBeforeMs?: number;
  /** Levels below the top; 0 = unlimited. */
  maxDepth: number;
  /** Stop after this many matches; 0 = unlimited. */
  limit: number;
  /** Also compute this digest of every matching regular file. */
  digest?: DigestKind;
  signal?: AbortSignal;
}

export interface FindMatch {
  entry: Entry;
  /** With FindOptions.digest, for regular files that could be read. */
  digest?: Uint8Array;
}

export interface DiskUsageOptions {
  /** Report directories down to this many levels below the top (totals count everything); 0 = all. */
  maxDepth: number;
  /** Sum sizes instead of allocated blocks. */
  apparentSize: boolean;
  signal?: AbortSignal;
}

export interface DiskUsageEntry {
  path: string;
  bytes: bigint;
  /** Entries below that are not directories, and directories below (not counting itself). */
  files: bigint;
  directories: bigint;
  /** Levels below the top (the top is 0). */
  depth: number;
}

export interface TailOptions {
  /** Start at this byte offset... */
  offset?: bigint;
  /** ...or at the start of the last `lines` lines (default 10 when offset is unset). */
  lines?: number;
  /** Keep streaming what is appended, across rotation and truncation, until the signal aborts. */
  follow: boolean;
  signal?: AbortSignal;
}

export interface TailChunk {
  data: Uint8Array;
  /** Offset of data's first byte in the file it was read from. */
  offset: bigint;
  /** On the first chunk after the path was rotated (a new file) or the file shrank. */
  notice?: "rotated" | "truncated";
}

export interface ContainerFs {
  /** A short description for logs ("local:/srv/demo", "pid 1234"). */
  readonly description: string;
  stat(path: string, options: { followSymlinks: boolean }): Promise<Entry>;
  list(path: string, options: ListOptions): AsyncIterable<Entry>;
  /** Opens a regular file (raw) or a directory (tar) for reading. */
  read(path: string, options: ReadOptions & { format: "raw" | "tar" | "auto" }): Promise<ReadStream>;
  createWriter(path: string, options: WriteOptions): Promise<FileWriter>;
  /** Extracts a tar stream into the directory `path` (created when makeParents). */
  extractTar(path: string, tar: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<ExtractResult>;
  mkdir(path: string, options: { parents: boolean; mode?: number }): Promise<Entry>;
  remove(path: string, options: { recursive: boolean }): Promise<void>;
  rename(from: string, to: string, options: { overwrite: boolean }): Promise<Entry>;
  /** Entries below `path` that match, depth first, streamed (never the whole tree in memory). */
  find(path: string, options: FindOptions): AsyncIterable<FindMatch>;
  /** Per-directory totals below `path`, children before their parent, `path` itself last. */
  diskUsage(path: string, options: DiskUsageOptions): AsyncIterable<DiskUsageEntry>;
  /** A regular file from an offset or its last lines and, with follow, what is appended later. */
  tail(path: string, options: TailOptions): AsyncIterable<TailChunk>;
  /** Releases what the filesystem holds open (root fd). */
  close(): Promise<void>;
}
