// The manifests `sync` compares: one per side, every entry below the side's root by its path
// relative to the root ("" is the root itself, when the root is a file). A remote side's manifest
// is one Find call (streamed; with checksums, the SHA-256 the agent computed beside the file); a
// local side's is a walk here, lstat only (symlinks are entries, never followed).
import { lstatSync } from "node:fs";
import * as fs from "node:fs/promises";
import { join, posix } from "node:path";
import { FileType, type FileEntry } from "../../gen/ts/podfiles/v1/files_pb.js";
import { Code, PodfilesError } from "./errors.js";
import { digestFile } from "./local-files.js";
import type { ClientCore } from "./core.js";
import type { RemotePath } from "./pod-to-pod.js";

export type EntryKind = "file" | "directory" | "symlink" | "other";

export interface ManifestEntry {
  kind: EntryKind;
  size: number;
  /** modification time, nanoseconds since the epoch */
  mtimeNs: bigint;
  /** permission bits */
  mode: number;
  /** hex SHA-256 (remote manifests asked with checksums, or local files hashed on demand) */
  sha256?: string;
}

/** Entries by relative path, "" for a root that is a file; undefined when the root does not exist. */
export type Manifest = Map<string, ManifestEntry>;

/**
 * Entries lstat'ed synchronously between two turns of the event loop. The walk is this process's
 * only local work while the remote manifest streams in: a threadpool round trip per lstat made a
 * 10,000-file tree take 277 ms (64 in flight at a time); synchronous calls take a fraction of that.
 */
const SYNC_BATCH = 512;

const kindOfType = (t: FileType): EntryKind =>
  t === FileType.REGULAR ? "file" : t === FileType.DIRECTORY ? "directory" : t === FileType.SYMLINK ? "symlink" : "other";

function kindOfStats(st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }): EntryKind {
  return st.isFile() ? "file" : st.isDirectory() ? "directory" : st.isSymbolicLink() ? "symlink" : "other";
}

function fromEntry(e: FileEntry, digest?: Uint8Array): ManifestEntry {
  const t = e.modifyTime;
  return {
    kind: kindOfType(e.type),
    size: Number(e.size),
    mtimeNs: t ? t.seconds * 1_000_000_000n + BigInt(t.nanos) : 0n,
    mode: e.mode & 0o7777,
    ...(digest && digest.length > 0 ? { sha256: Buffer.from(digest).toString("hex") } : {}),
  };
}

/**
 * A remote root's manifest: Stat of the root (a symlinked root is followed, as `find dir/` does),
 * then one Find below it. undefined when the root does not exist.
 */
export async function remoteManifest(
  client: Pick<ClientCore, "stat" | "find">,
  root: RemotePath,
  o: { checksum: boolean; signal?: AbortSignal },
): Promise<Manifest | undefined> {
  let top: FileEntry;
  try {
    top = await client.stat(root, { followSymlinks: true, signal: o.signal });
  } catch (err) {
    if (err instanceof PodfilesError && err.code === Code.NotFound) return undefined;
    throw err;
  }
  const manifest: Manifest = new Map();
  if (top.type !== FileType.DIRECTORY) {
    let sha: Uint8Array | undefined;
    if (o.checksum && top.type === FileType.REGULAR) {
      // the agent hashes it: Find in its directory, matching exactly its name
      const dir = posix.dirname(root.path);
      const name = posix.basename(root.path).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
      for await (const m of client.find({ container: root.container, path: dir }, { maxDepth: 1, regex: `^${name}$`, digest: "sha256", signal: o.signal }))
        sha = m.digest;
    }
    manifest.set("", fromEntry(top, sha));
    return manifest;
  }
  const prefix = root.path.endsWith("/") ? root.path : `${root.path}/`;
  for await (const m of client.find(root, { signal: o.signal, ...(o.checksum ? { digest: "sha256" as const } : {}) })) {
    const e = m.entry!;
    const rel = e.path.slice(prefix.length);
    // a local side joins these onto its root: a path that is not below root.path, one segment at a time, is refused
    if (!e.path.startsWith(prefix) || rel.split("/").some((s) => s === "" || s === "." || s === ".."))
      throw new PodfilesError(`Find answered ${e.path}, which is not a path below ${root.path}`, Code.Internal);
    manifest.set(rel, fromEntry(e, m.digest));
  }
  return manifest;
}

/** A local root's manifest (lstat; a symlinked root is followed). undefined when it does not exist. */
export async function localManifest(root: string, o: { signal?: AbortSignal }): Promise<Manifest | undefined> {
  const top = await fs.stat(root, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });
  if (!top) return undefined;
  const manifest: Manifest = new Map();
  const entry = (st: import("node:fs").BigIntStats): ManifestEntry => ({
    kind: kindOfStats(st),
    size: Number(st.size),
    mtimeNs: st.mtimeNs,
    mode: Number(st.mode) & 0o7777,
  });
  if (!top.isDirectory()) {
    manifest.set("", entry(top));
    return manifest;
  }
  const dirs = [""];
  while (dirs.length > 0) {
    o.signal?.throwIfAborted();
    const dir = dirs.pop()!;
    const names = await fs.readdir(join(root, dir)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [] as string[]; // removed while walking
      throw err;
    });
    for (const [i, name] of names.entries()) {
      if (i % SYNC_BATCH === SYNC_BATCH - 1) await new Promise<void>((resolve) => setImmediate(resolve));
      const rel = dir ? posix.join(dir, name) : name;
      const st = lstatSync(join(root, rel), { bigint: true, throwIfNoEntry: false }); // undefined: removed while walking
      if (!st) continue;
      manifest.set(rel, entry(st));
      if (st.isDirectory()) dirs.push(rel);
    }
  }
  return manifest;
}

/** The hex SHA-256 of a local file (local-files.ts digestFile). */
export async function localSha256(path: string, signal?: AbortSignal): Promise<string> {
  const fh = await fs.open(path, "r");
  try {
    const { size } = await fh.stat();
    return Buffer.from(await digestFile(fh.fd, 0, size, signal)).toString("hex");
  } finally {
    await fh.close();
  }
}
