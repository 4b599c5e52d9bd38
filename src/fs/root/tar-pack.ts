// A directory as a tar stream (pax headers: mode, owner ids and names, mtime,
// symlinks). The tree is walked with the same confined listing as ListFiles,
// and every file is opened confined with O_NOFOLLOW, so a directory swapped
// for a symlink mid-download can never pull in anything outside the container.
import * as fs from "node:fs";
import { once } from "node:events";
import { posix } from "node:path";
import tar from "tar-stream";
import type { Entry, ReadOptions, ReadStream } from "../container-fs.js";
import type { RootContext } from "./context.js";
import { fstat } from "./fs-sys.js";
import { listEntries } from "./list.js";
import { ReadFd, readChunks } from "./read.js";

const FILE_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

export function packDirectory(ctx: RootContext, dirPath: string, dirEntry: Entry, options: ReadOptions): ReadStream {
  const pack = tar.pack();
  const producer = addTree(ctx, pack, dirPath, options).then(
    () => pack.finalize(),
    (err: unknown) => pack.destroy(err as Error),
  );
  return {
    entry: dirEntry,
    format: "tar",
    offset: 0n,
    chunks: coalesce(pack as AsyncIterable<Uint8Array>, options.chunkSize, producer),
    close: async () => {
      pack.destroy(new Error("download closed"));
      await producer.catch(() => undefined);
    },
  };
}

async function addTree(ctx: RootContext, pack: tar.Pack, dirPath: string, options: ReadOptions): Promise<void> {
  const entries = listEntries(ctx, dirPath, { includeHidden: true, recursive: true, maxDepth: 0, signal: options.signal });
  for await (const entry of entries) {
    const name = posix.relative(dirPath, entry.path);
    const header = {
      name,
      mode: entry.mode & 0o7777,
      uid: entry.uid,
      gid: entry.gid,
      uname: entry.user,
      gname: entry.group,
      mtime: new Date(entry.mtimeMs),
    };
    if (entry.type === "directory") {
      await addEntry(pack, { ...header, type: "directory" });
    } else if (entry.type === "symlink") {
      await addEntry(pack, { ...header, type: "symlink", linkname: entry.symlinkTarget ?? "" });
    } else if (entry.type === "regular") {
      await addFile(ctx, pack, entry.path, header, options);
    }
    // Sockets, FIFOs and devices carry no data a copy could use: skipped.
  }
}

function addEntry(pack: tar.Pack, header: Parameters<tar.Pack["entry"]>[0]): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header, (err) => (err ? reject(err) : resolve())));
}

async function addFile(ctx: RootContext, pack: tar.Pack, path: string, header: Omit<tar.Header, "size" | "type" | "linkname" | "devmajor" | "devminor">, options: ReadOptions): Promise<void> {
  let fd: number;
  try {
    fd = ctx.open(path, FILE_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ELOOP") return; // removed or replaced by a symlink while packing
    throw err;
  }
  const file = new ReadFd(fd);
  try {
    const st = await fstat(fd, { bigint: true });
    if ((Number(st.mode) & fs.constants.S_IFMT) !== fs.constants.S_IFREG) return;
    const size = st.size;
    const done = new Promise<void>((resolve, reject) => {
      const sink = pack.entry({ ...header, type: "file", size: Number(size) }, (err) => (err ? reject(err) : resolve()));
      (async () => {
        let sent = 0n;
        for await (const chunk of readChunks(file, 0n, size, options.chunkSize, options.signal)) {
          sent += BigInt(chunk.length);
          if (!sink.write(chunk)) await once(sink, "drain");
        }
        // A file that shrank while being read is padded, as GNU tar does: tar needs the declared size.
        if (sent < size) sink.write(Buffer.alloc(Number(size - sent)));
        (sink as unknown as { end(): void }).end();
      })().catch((err) => {
        sink.destroy(err);
        reject(err);
      });
    });
    await done;
  } finally {
    file.close();
  }
}

/** Re-chunks the tar stream (512-byte headers and file chunks) into messages of about chunkSize. */
async function* coalesce(source: AsyncIterable<Uint8Array>, chunkSize: number, producer: Promise<unknown>): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  for await (const chunk of source) {
    if (pendingBytes === 0 && chunk.length >= chunkSize) {
      yield chunk;
      continue;
    }
    pending.push(chunk);
    pendingBytes += chunk.length;
    if (pendingBytes >= chunkSize) {
      yield Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes);
  await producer;
}
