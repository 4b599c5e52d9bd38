// A directory as a tar stream (pax headers: mode, owner ids and names, mtime, symlinks). The
// tree is walked from the directory fd the download opened (tree-walk.ts: iterative, fds
// bounded), never reopened by name, and every file is opened relative to its listing's own
// directory fd, with O_NOFOLLOW and type first: a directory swapped for a symlink mid-download
// can never pull in anything outside the container, and a FIFO or device is never opened.
//
// The download may end at any moment (the caller hangs up, the tree changes under us): every
// stream here has an 'error' listener, and errors reach the caller through the chunk iterator.
import * as fs from "node:fs";
import type { BigIntStats } from "node:fs";
import tar from "tar-stream";
import type { Entry, ReadOptions, ReadStream } from "../container-fs.js";
import type { RootContext } from "./context.js";
import { closeQuietly } from "./fs-sys.js";
import { ReadFd, readChunks } from "./read-chunks.js";
import { walkTree } from "./tree-walk.js";

const FILE_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;
const ignore = () => undefined;

type Header = Omit<tar.Header, "size" | "type" | "linkname" | "devmajor" | "devminor">;

/** Streams the directory held by `dir.fd` (an O_PATH fd this takes over) as tar. */
export function packDirectory(ctx: RootContext, dir: { fd: number; st: BigIntStats }, dirPath: string, dirEntry: Entry, options: ReadOptions): ReadStream {
  const pack = tar.pack();
  pack.on("error", ignore); // a destroyed pack's error reaches the caller through the iterator below
  const producer = addTree(ctx, pack, dir, dirPath, options).then(
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
      await producer;
    },
  };
}

async function addTree(ctx: RootContext, pack: tar.Pack, dir: { fd: number; st: BigIntStats }, dirPath: string, options: ReadOptions): Promise<void> {
  let owned: number | undefined = dir.fd;
  try {
    const names = await ctx.names();
    owned = undefined; // walkTree closes it from here on
    const walk = walkTree(ctx, dir.fd, dirPath, dir.st, { includeHidden: true, recursive: true, maxDepth: 0, signal: options.signal }, names);
    for await (const { entry, dirFd, name } of walk) {
      if (pack.destroyed) return;
      const header: Header = {
        name: entry.path.slice(dirPath === "/" ? 1 : dirPath.length + 1),
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
        await addFile(ctx, pack, dirFd, name, entry.path, header, options);
      }
      // Sockets, FIFOs and devices carry no data a copy could use: skipped, never opened.
    }
  } finally {
    closeQuietly(owned);
  }
}

function addEntry(pack: tar.Pack, header: Parameters<tar.Pack["entry"]>[0]): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    sink.on("error", ignore); // reported through the callback
  });
}

async function addFile(ctx: RootContext, pack: tar.Pack, dirFd: number, name: string, path: string, header: Header, options: ReadOptions): Promise<void> {
  let fd: number;
  let size: bigint;
  try {
    const pin = await ctx.pinAt(dirFd, name, path);
    if (pin.type !== "regular") {
      closeQuietly(pin.pathFd); // replaced since it was listed (by a symlink, a FIFO, …): skipped
      return;
    }
    size = pin.st.size;
    fd = await ctx.reopen(pin, path, FILE_FLAGS, { allow: ["regular"], verb: "download" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return; // removed while packing
    throw err;
  }
  const file = new ReadFd(fd);
  try {
    if (pack.destroyed) return;
    await new Promise<void>((resolve, reject) => {
      const sink = pack.entry({ ...header, type: "file", size: Number(size) }, (err) => (err ? reject(err) : resolve()));
      sink.on("error", ignore); // reported through the callback
      (async () => {
        let sent = 0n;
        for await (const chunk of readChunks(file, 0n, size, options.chunkSize, options.signal)) {
          sent += BigInt(chunk.length);
          if (sink.destroyed) throw new Error("tar entry closed");
          if (!sink.write(chunk)) await drainOrClose(sink);
          if (sink.destroyed) throw new Error("tar entry closed");
        }
        // A file that shrank while being read is padded, as GNU tar does: tar needs the declared size.
        if (sent < size) sink.write(Buffer.alloc(Number(size - sent)));
        (sink as unknown as { end(): void }).end();
      })().catch((err: unknown) => {
        sink.destroy(err as Error);
        reject(err);
      });
    });
  } finally {
    file.close();
  }
}

/** Waits for room in a tar entry; a destroyed entry never drains, so its close ends the wait too. */
function drainOrClose(sink: NodeJS.EventEmitter & { destroyed?: boolean }): Promise<void> {
  return new Promise((resolve) => {
    if (sink.destroyed) return resolve(); // closed already: no 'close' is coming
    const done = () => {
      sink.off("drain", done);
      sink.off("close", done);
      resolve();
    };
    sink.on("drain", done);
    sink.on("close", done);
  });
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
