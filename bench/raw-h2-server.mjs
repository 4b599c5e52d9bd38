// Baseline: raw node:http2 in its best configuration (8 MiB stream / 32 MiB
// session windows, 1 MiB frames). It does what podfiles does minus RPC framing,
// protobuf and checks: reads the file with pread into a fresh buffer per chunk
// and writes it to the stream with backpressure; uploads are written with
// write(2) and fsync'd before the response, as podfiles does: staged into aligned 1 MiB blocks
// written with O_DIRECT (the tail through the page cache), as podfiles writes the bulk of a large
// new file (src/direct-io.ts) and faster here than the page cache (bench/README.md);
// ?direct=0 writes every chunk through the page cache instead.
//   node bench/raw-h2-server.mjs ROOT   → prints {"port":N} on stdout
import * as http2 from "node:http2";
import * as fs from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const MiB = 1024 * 1024;
const read = promisify(fs.read);
const write = promisify(fs.write);
const fsync = promisify(fs.fsync);
const root = process.argv[2];

const server = http2.createServer({ settings: { initialWindowSize: 8 * MiB, maxFrameSize: MiB - 1 } });
server.on("session", (s) => {
  if (s.connecting) s.once("connect", () => s.setLocalWindowSize(32 * MiB));
  else s.setLocalWindowSize(32 * MiB);
});
server.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  const url = new URL(headers[":path"], "http://x");
  const path = join(root, url.searchParams.get("path") ?? "");
  const handle =
    url.pathname === "/download"
      ? download(stream, path, Number(url.searchParams.get("chunk") || MiB))
      : url.searchParams.get("direct") === "0"
        ? upload(stream, path)
        : uploadDirect(stream, path);
  handle.catch((err) => {
    if (!stream.headersSent) stream.respond({ ":status": 500 });
    stream.destroy(err);
  });
});

async function download(stream, path, chunk) {
  const fd = fs.openSync(path, "r");
  try {
    stream.respond({ ":status": 200 });
    let pos = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(chunk);
      const { bytesRead: n } = await read(fd, buf, 0, chunk, pos);
      if (n === 0) break;
      pos += n;
      if (!stream.write(n === chunk ? buf : buf.subarray(0, n))) await new Promise((r) => stream.once("drain", r));
      if (stream.destroyed) return;
    }
    stream.end();
  } finally {
    fs.closeSync(fd);
  }
}

async function upload(stream, path) {
  const fd = fs.openSync(path, "w", 0o644);
  let bytes = 0;
  try {
    for await (const c of stream) {
      let off = 0;
      while (off < c.length) off += (await write(fd, c, off, c.length - off)).bytesWritten;
      bytes += c.length;
    }
    await fsync(fd);
  } finally {
    fs.closeSync(fd);
  }
  stream.respond({ ":status": 200 });
  stream.end(JSON.stringify({ bytes }));
}

// two aligned blocks (a WebAssembly.Memory starts on a page boundary), reused by every direct upload
const blocks = [0, 1].map(() => new Uint8Array(new WebAssembly.Memory({ initial: 32 }).buffer, 0, MiB));

async function uploadDirect(stream, path) {
  const fd = fs.openSync(path, "w", 0o644);
  const direct = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_DIRECT);
  let blockAt = 0; // file position of the block being filled
  let fill = 0;
  let turn = 0;
  let pending = Promise.resolve();
  try {
    for await (const c of stream) {
      for (let at = 0; at < c.length; ) {
        const n = Math.min(MiB - fill, c.length - at);
        blocks[turn].set(c.subarray(at, at + n), fill);
        fill += n;
        at += n;
        if (fill === MiB) {
          await pending; // one block is written while the other fills
          pending = write(direct, blocks[turn], 0, MiB, blockAt).then(() => undefined);
          blockAt += MiB;
          turn ^= 1;
          fill = 0;
        }
      }
    }
    await pending;
    if (fill > 0) await write(fd, blocks[turn], 0, fill, blockAt);
    await fsync(fd);
  } finally {
    fs.closeSync(direct);
    fs.closeSync(fd);
  }
  stream.respond({ ":status": 200 });
  stream.end(JSON.stringify({ bytes: blockAt + fill }));
}

server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
