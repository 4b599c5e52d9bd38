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
  /** Releases what the filesystem holds open (root fd). */
  close(): Promise<void>;
}
