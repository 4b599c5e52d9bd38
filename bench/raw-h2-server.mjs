// Baseline: raw node:http2 in its best configuration (8 MiB stream / 32 MiB
// session windows, 1 MiB frames). It does what podfiles does minus RPC framing,
// protobuf and checks: reads the file with pread into a fresh buffer per chunk
// and writes it to the stream with backpressure; uploads are written with
// write(2) and fsync'd before the response, as podfiles does.
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
  const handle = url.pathname === "/download" ? download(stream, path, Number(url.searchParams.get("chunk") || MiB)) : upload(stream, path);
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

server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
