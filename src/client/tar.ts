// Local side of directory transfers: a local directory as a tar stream (uploadDirectory)
// and a tar stream extracted into a local directory (downloadDirectory). Extraction refuses
// any entry that would land outside the destination: absolute names and `..`
// are normalised against it, and no entry may pass through a symlink (the
// symlink-then-file trick behind kubectl cp's CVEs).
import * as fs from "node:fs";
import { once } from "node:events";
import { join, posix, sep } from "node:path";
import tar from "tar-stream";
import { Code } from "@connectrpc/connect";
import { PodfilesError, invalidArgument } from "./errors.js";

export interface PackOptions {
  /** Owner ids written into the headers (default: the local file's). */
  uid?: number;
  gid?: number;
  /** Called for entries that cannot go into a tar (sockets, devices). */
  warn?: (message: string) => void;
}

/** Depth-first, names sorted, so that two packs of an unchanged tree are byte-identical. */
async function* walk(root: string, rel = ""): AsyncGenerator<{ rel: string; abs: string; st: fs.Stats }> {
  const dir = rel ? join(root, rel) : root;
  const names = (await fs.promises.readdir(dir)).sort();
  for (const name of names) {
    const childRel = rel ? `${rel}/${name}` : name;
    const abs = join(root, childRel);
    const st = await fs.promises.lstat(abs);
    yield { rel: childRel, abs, st };
    if (st.isDirectory()) yield* walk(root, childRel);
  }
}

/** The tar stream of a local directory's contents (names relative to it). */
export function packDirectory(root: string, options: PackOptions = {}): AsyncIterable<Uint8Array> {
  const pack = tar.pack();
  const producer = (async () => {
    for await (const { rel, abs, st } of walk(root)) {
      const header = {
        name: rel.split(sep).join("/"),
        mode: st.mode & 0o7777,
        uid: options.uid ?? st.uid,
        gid: options.gid ?? st.gid,
        mtime: st.mtime,
      };
      if (st.isDirectory()) await entry(pack, { ...header, type: "directory" });
      else if (st.isSymbolicLink()) await entry(pack, { ...header, type: "symlink", linkname: await fs.promises.readlink(abs) });
      else if (st.isFile()) await addFile(pack, abs, header, st.size);
      else options.warn?.(`${abs}: skipped (not a file, directory or symlink)`);
    }
    pack.finalize();
  })().catch((err: Error) => pack.destroy(err));
  return (async function* () {
    for await (const chunk of pack as AsyncIterable<Uint8Array>) yield chunk;
    await producer;
  })();
}

type HeaderArg = Parameters<tar.Pack["entry"]>[0];

function entry(pack: tar.Pack, header: HeaderArg): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}

async function addFile(pack: tar.Pack, abs: string, header: Omit<HeaderArg, "type">, size: number): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    const sink = pack.entry({ ...header, type: "file", size }, (err) => (err ? reject(err) : resolve()));
    (async () => {
      let sent = 0;
      if (size > 0) {
        for await (const chunk of fs.createReadStream(abs, { start: 0, end: size - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
          sent += chunk.length;
          if (!sink.write(chunk)) await once(sink, "drain");
        }
      }
      // A file that shrank since lstat is padded (tar needs the declared size); the digest check then fails the upload.
      if (sent < size) sink.write(Buffer.alloc(size - sent));
      (sink as unknown as { end(): void }).end();
    })().catch((err: Error) => {
      sink.destroy(err);
      reject(err);
    });
  });
  await done;
}

/** Normalises a tar member name against dest; throws for names that leave it. */
export function localMemberPath(dest: string, name: string): string {
  const relative = posix.normalize(name.replace(/\\/g, "/").replace(/^\/+/, ""));
  if (relative === "." || relative === "" || relative === "./") return dest;
  if (relative === ".." || relative.startsWith("../")) throw invalidArgument(`tar entry "${name}" leaves ${dest}; nothing more was extracted`);
  return join(dest, ...relative.replace(/\/+$/, "").split("/"));
}

/** Every directory from dest down to path's parent must be a real directory (created when missing). */
async function ensureParents(dest: string, path: string, name: string): Promise<void> {
  const parts = path
    .slice(dest.length + 1)
    .split(sep)
    .slice(0, -1);
  let current = dest;
  for (const part of parts) {
    current = join(current, part);
    const st = await fs.promises.lstat(current).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw err;
    });
    if (!st) await fs.promises.mkdir(current, { mode: 0o755 });
    else if (st.isSymbolicLink()) throw invalidArgument(`tar entry "${name}" passes through the symlink ${current}; nothing more was extracted`);
    else if (!st.isDirectory()) throw new PodfilesError(`tar entry "${name}": ${current} is not a directory`, Code.FailedPrecondition);
  }
}

async function removeNonDirectory(path: string): Promise<void> {
  const st = await fs.promises.lstat(path).catch(() => undefined);
  if (st && !st.isDirectory()) await fs.promises.unlink(path);
}

export interface ExtractResult {
  entries: number;
  skipped: number;
}

/** Extracts a tar stream into dest (created if missing). */
export async function extractTar(dest: string, input: AsyncIterable<Uint8Array>, warn: (m: string) => void = () => {}): Promise<ExtractResult> {
  await fs.promises.mkdir(dest, { recursive: true });
  const extract = tar.extract();
  const feeding = (async () => {
    for await (const chunk of input) if (!extract.write(chunk)) await once(extract, "drain");
    (extract as unknown as { end(): void }).end();
  })().catch((err: Error) => {
    extract.destroy(err);
    throw err;
  });
  const dirs: { path: string; mode: number; mtime?: Date }[] = [];
  const result: ExtractResult = { entries: 0, skipped: 0 };
  try {
    for await (const e of extract) {
      const h = e.header;
      const path = localMemberPath(dest, h.name);
      const mode = (h.mode ?? 0o644) & 0o777; // never setuid/setgid/sticky from a download
      if (path !== dest) await ensureParents(dest, path, h.name);
      switch (h.type) {
        case "file":
        case "contiguous-file": {
          await removeNonDirectory(path);
          const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
          const fh = await fs.promises.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode | 0o200);
          const out = fh.createWriteStream();
          await new Promise<void>((resolve, reject) => {
            out.once("error", reject);
            out.once("close", resolve);
            e.once("error", reject);
            e.pipe(out);
          });
          await fs.promises.chmod(path, mode);
          if (h.mtime) await fs.promises.utimes(path, h.mtime, h.mtime);
          break;
        }
        case "directory": {
          const st = await fs.promises.lstat(path).catch(() => undefined);
          if (st && !st.isDirectory()) await fs.promises.unlink(path);
          if (!st?.isDirectory()) await fs.promises.mkdir(path, { mode: 0o755 });
          dirs.push({ path, mode: mode || 0o755, mtime: h.mtime });
          e.resume();
          break;
        }
        case "symlink":
          await removeNonDirectory(path);
          await fs.promises.symlink(h.linkname ?? "", path);
          e.resume();
          break;
        case "link": {
          const source = localMemberPath(dest, h.linkname ?? "");
          await ensureParents(dest, source, h.linkname ?? "");
          await removeNonDirectory(path);
          await fs.promises.link(source, path);
          e.resume();
          break;
        }
        default:
          warn(`${h.name}: skipped (${h.type})`);
          result.skipped++;
          e.resume();
          continue;
      }
      result.entries++;
    }
    await feeding;
  } catch (err) {
    extract.destroy(err as Error);
    await feeding.catch(() => undefined);
    if (err instanceof Error && /unexpected end of data|invalid tar header/i.test(err.message))
      throw new PodfilesError(`not a valid tar stream: ${err.message}`, Code.DataLoss);
    throw err;
  }
  // Directory modes and times last (deepest first), so read-only directories do not block their contents.
  for (const d of dirs.reverse()) {
    await fs.promises.chmod(d.path, d.mode);
    if (d.mtime) await fs.promises.utimes(d.path, d.mtime, d.mtime);
  }
  return result;
}
