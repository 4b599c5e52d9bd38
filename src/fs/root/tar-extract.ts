// Extracting an uploaded tar stream into a directory. Every entry goes through
// the same confined operations as a single upload, and on top of that it must
// stay inside the target directory: names with `..`, and paths that pass
// through a symlink (the symlink-then-file trick of kubectl cp's CVEs), are refused.
// A file gets its member's modification time, as tar x gives it. Mode and owner are set only on what the extraction created: `./` and
// directories that already existed keep theirs (an entry `./` with mode 0777
// would otherwise make the container's `/` world-writable).
import * as fs from "node:fs";
import { posix } from "node:path";
import tar from "tar-stream";
import type { ExtractOptions, ExtractResult } from "../container-fs.js";
import { invalidArgument } from "../../errors.js";
import { uploadMode } from "../upload-mode.js";
import type { RootContext } from "./context.js";
import { ConfinedRoot } from "../confine/index.js";
import type { FileWriter } from "../container-fs.js";
import { ExtractDirectories, type ExtractDirectory } from "./extract-directories.js";
import { createWriter, createWriterIn } from "./file-writer.js";
import { makeDirectories } from "./mutate.js";
import { PendingWrites } from "../../pending-writes.js";
import { feedTar, type TarSink } from "../../tar-feed.js";
import { pathFromWire } from "../name-bytes.js";

export async function extractTar(ctx: RootContext, dirPath: string, input: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<ExtractResult> {
  if (options.makeParents) await makeDirectories(ctx, dirPath, { mode: 0o755 });
  const dirs = await ExtractDirectories.open(ctx, dirPath);

  const extract = tar.extract();
  const feeding = feedTar(input, extract as unknown as TarSink);
  // its failure is awaited below, but only once the extraction loop has noticed it: a handler now, or a
  // caller cancelling mid-stream was an unhandled rejection, which ends the agent (test/server/upload-tar-cancel.spec.ts)
  feeding.catch(() => undefined);
  // files are written and committed (fsync, then their name) while the next members arrive: src/pending-writes.ts
  const writes = new PendingWrites();
  let entries = 0;
  try {
    for await (const entry of extract) {
      if (writes.failure) throw writes.failure.error;
      await extractEntry(ctx, dirs, writes, entry, options);
      entries++;
    }
    await feeding;
    await writes.drain();
    // the names made are durable when the call returns OK
    await dirs.syncAll();
  } catch (err) {
    extract.destroy(err as Error);
    await feeding.catch(() => undefined);
    await writes.settle();
    // what was extracted before the failure is durable too, as when every file synced its directory
    await dirs.syncAll().catch(() => undefined);
    if (err instanceof Error && /unexpected end of data|invalid tar header/i.test(err.message)) {
      throw invalidArgument(`not a valid tar stream: ${err.message}`);
    }
    throw err;
  } finally {
    dirs.close();
  }
  return { entry: await ctx.lstatEntry(dirPath), entries };
}

/** A pax `mtime` record ("1700000000.123456789": seconds with a fraction, POSIX pax); undefined if malformed. */
export function paxTime(text: string | undefined): { seconds: bigint; nanos: number } | undefined {
  const m = text === undefined ? null : /^(-?\d{1,15})(?:\.(\d{1,30}))?$/.exec(text);
  if (!m) return undefined;
  return { seconds: BigInt(m[1]!), nanos: Number((m[2] ?? "").slice(0, 9).padEnd(9, "0")) };
}

const fileTime = (d: Date) => {
  const ms = d.getTime();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms - Math.floor(ms / 1000) * 1000) * 1e6 };
};

/** Normalizes a tar member name relative to the target; refuses anything leaving it. */
export function memberPath(dirPath: string, name: string): string {
  // no leading slash (absolute names stay inside), no trailing one (a directory entry is "d/")
  const relative = posix.normalize(name.replace(/^\/+/, "")).replace(/\/+$/, "");
  if (relative === "." || relative === "") return dirPath;
  if (relative === ".." || relative.startsWith("../")) throw invalidArgument(`tar entry "${name}" leaves the target directory`);
  return posix.join(dirPath, relative);
}

/**
 * Every directory between dirPath and path must be a real directory, not a symlink. Returns those
 * that do not exist yet (the entry's extraction creates them), outermost first.
 */
async function missingBetween(ctx: RootContext, dirPath: string, path: string, name: string): Promise<string[]> {
  const parts = posix.relative(dirPath, path).split("/").slice(0, -1);
  let current = dirPath;
  for (const [i, part] of parts.entries()) {
    current = posix.join(current, part);
    const st = await lstatOrUndefined(ctx, current);
    if (st?.type === "symlink") throw invalidArgument(`tar entry "${name}" passes through the symlink ${current}`);
    if (!st) {
      // missing: created below as real directories, with everything under it
      const missing = [current];
      for (const rest of parts.slice(i + 1)) missing.push(posix.join(missing[missing.length - 1]!, rest));
      return missing;
    }
  }
  return [];
}

const lstatOrUndefined = (ctx: RootContext, path: string) =>
  ctx.lstatEntry(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw err;
  });

type TarEntry = tar.Extract extends AsyncIterable<infer S> ? S : never;

/**
 * Extracts one entry; the directories it goes into are resolved (and created) through dirs. A file
 * in a kept directory is left being written and committed in `writes`; anything else first waits for the writes it
 * could meet (all of them for a directory, a link or a symlink; for a file, those of its own name
 * and of its ancestors), so the members land as if extracted one after the other. A failure ends the
 * extraction at the next member: up to WRITES_IN_FLIGHT members after the one that failed may have
 * landed too, each whole (the call fails either way, with the first failure).
 */
async function extractEntry(ctx: RootContext, dirs: ExtractDirectories, writes: PendingWrites, entry: TarEntry, options: ExtractOptions): Promise<void> {
  const header = entry.header;
  const dirPath = dirs.top.path;
  const created = dirs.created;
  const path = memberPath(dirPath, header.name);
  const isFile = header.type === "file" || header.type === "contiguous-file";
  if (!isFile || path === dirPath || writes.overlaps(path)) await writes.drain();
  // every directory on the way is a real one (a symlink is refused), missing ones created
  const parent = path === dirPath ? undefined : await dirs.directory(parentOf(path), header.name);
  // setuid/setgid bits are dropped unless the server allows them (fs/upload-mode.ts)
  const mode = uploadMode(header.mode ?? 0o644, options.allowSetid ?? false);
  const owner = ownerFor(header, options);
  switch (header.type) {
    case "file":
    case "contiguous-file": {
      const writeOptions = {
        mode,
        ...owner,
        overwrite: options.overwrite === "fail" ? ("fail" as const) : ("overwrite" as const),
        offset: 0n,
        makeParents: false,
        allowSetid: options.allowSetid,
        holder: "a tar upload",
        // as tar x does (and ExecFs's tar in the container): the member's time, not the upload's
        modifiedTime: paxTime((header.pax as Record<string, string> | undefined)?.mtime) ?? (header.mtime ? fileTime(header.mtime) : undefined),
      };
      if (!parent) {
        // a file named like the target itself fails as a single upload to it does
        const writer = await createWriter(ctx, path, { ...writeOptions, makeParents: true });
        await writeBody(writer, entry);
        await writer.commit();
        return;
      }
      const openParent = { fd: parent.fd, st: parent.st, sync: async () => dirs.named(parent) };
      if ((header.size ?? 0) <= WHOLE_MEMBER_BYTES) {
        // a small member is received whole and written, as well as committed, alongside the next ones
        const body = await receiveBody(entry);
        dirs.hold(parent);
        const written = (async () => {
          const writer = await createWriterIn(ctx, openParent, baseName(path), path, writeOptions);
          await writeChunks(writer, body);
          await writer.commitQuietly();
        })();
        await writes.add(path, written, () => dirs.release(parent));
        return;
      }
      const writer = await createWriterIn(ctx, openParent, baseName(path), path, writeOptions);
      await writeBody(writer, entry);
      // the directory's fd stays open (not evicted) until the commit that renames in it settles
      dirs.hold(parent);
      await writes.add(path, writer.commitQuietly(), () => dirs.release(parent));
      return;
    }
    case "directory": {
      if (!parent) break; // `./`: the target keeps its own mode and owner
      const at = ConfinedRoot.fdPath(parent.fd, baseName(path));
      if ((await ctx.lstat(at, path).catch(() => undefined))?.isSymbolicLink()) {
        // as mkdir -p: a symlink to a directory inside the root is one (nothing is created through it)
        await makeDirectories(ctx, path, { mode: 0o755 });
        break;
      }
      const dir = await dirs.directory(path, header.name);
      // an existing directory (`etc/` over the container's /etc) keeps its mode and owner
      if (created.has(path)) await dirs.setMode(dir, mode || 0o755, owner);
      break;
    }
    case "symlink":
      await replaceable(ctx, parent, path, options, (at) => fs.promises.symlink(pathFromWire(header.linkname ?? ""), at));
      if (parent) dirs.named(parent);
      break;
    case "link": {
      const source = memberPath(dirPath, header.linkname ?? "");
      await missingBetween(ctx, dirPath, source, header.linkname ?? "");
      await ctx.inParent(source, (_sfd, _sname, sourceAt) => replaceable(ctx, parent, path, options, (at) => fs.promises.link(sourceAt(), at)));
      if (parent) dirs.named(parent);
      break;
    }
    default:
      break; // devices, FIFOs and unknown types are not created
  }
  entry.resume(); // drain the (empty) body so the iterator moves on
}

/** Writes the member's data; aborts the writer (its temp file removed) when that fails. */
async function writeBody(writer: FileWriter, entry: TarEntry): Promise<void> {
  try {
    for await (const chunk of entry as AsyncIterable<Uint8Array>) await writer.write(chunk);
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/**
 * Members up to this size are received into memory and then opened, written and committed while the
 * next ones arrive (src/pending-writes.ts bounds how many: 16 × 256 KiB at most). For a tree of small
 * files the open and the write were two more round trips per file in line, on top of the commit.
 */
const WHOLE_MEMBER_BYTES = 256 * 1024;

async function receiveBody(entry: TarEntry): Promise<Uint8Array[]> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of entry as AsyncIterable<Uint8Array>) chunks.push(chunk);
  return chunks;
}

async function writeChunks(writer: FileWriter, chunks: Uint8Array[]): Promise<void> {
  try {
    for (const chunk of chunks) await writer.write(chunk);
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

const parentOf = (path: string) => path.slice(0, path.lastIndexOf("/")) || "/";
const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);

/**
 * Creates a name with fn, replacing an existing non-directory when overwriting is allowed: in
 * parent (kept open by the extraction) or, for the target's own path, in its parent reopened.
 */
async function replaceable(
  ctx: RootContext,
  parent: ExtractDirectory | undefined,
  path: string,
  options: ExtractOptions,
  fn: (at: fs.PathLike) => Promise<void>,
): Promise<void> {
  const make = async (at: fs.PathLike) => {
    if (options.overwrite !== "fail") {
      const st = await fs.promises.lstat(at).catch(() => undefined);
      if (st && !st.isDirectory()) await fs.promises.unlink(at);
    }
    await fn(at);
  };
  if (parent) return make(ConfinedRoot.fdPath(parent.fd, baseName(path)));
  await makeDirectories(ctx, posix.dirname(path), { mode: 0o755 });
  await ctx.inParent(path, (_fd, _name, at) => make(at()));
}

/** The caller's ids win; otherwise the archive's ids, when we may chown (root), as tar does. */
function ownerFor(header: tar.Header, options: ExtractOptions): { uid?: number; gid?: number } {
  const root = process.getuid?.() === 0;
  return {
    uid: options.uid ?? (root ? header.uid : undefined),
    gid: options.gid ?? (root ? header.gid : undefined),
  };
}
