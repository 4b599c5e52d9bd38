// PROTOTYPE, not podfiles: what the zero-copy gRPC Download path proposed in
// DESIGN.md ("The wire") would reach, measured in the same run. It serves only
// /podfiles.v1.FileService/Download, on raw node:http2 with the same windows
// as podfiles, and frames each data message in place: the file is read into a
// buffer with 10 spare bytes in front, the gRPC prefix (flag + length), the
// field tag (2, bytes) and the varint length are written into those spare
// bytes, and the one buffer goes to the socket — no protobuf writer, no
// envelope copy. Header and trailer messages (small) use protobuf-es. The
// trailer carries the SHA-256 like podfiles does, unless --no-hash.
//   node bench/zero-copy-server.mjs ROOT [--no-hash]  → prints {"port":N}
import * as http2 from "node:http2";
import * as fs from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { pathToFileURL, fileURLToPath } from "node:url";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";

const distDir = process.env.PODFILES_BENCH_DIST ?? fileURLToPath(new URL("../dist", import.meta.url));
const pb = await import(pathToFileURL(`${distDir}/gen/ts/podfiles/v1/files_pb.js`).href);
const MiB = 1024 * 1024;
const SPARE = 10; // 5 (gRPC prefix) + 1 (tag) + up to 4 (varint of a length < 2^28)
const read = promisify(fs.read);
const root = process.argv[2];
const hashing = !process.argv.includes("--no-hash");

const server = http2.createServer({ settings: { initialWindowSize: 8 * MiB, maxFrameSize: MiB - 1 } });
server.on("session", (s) => {
  if (s.connecting) s.once("connect", () => s.setLocalWindowSize(32 * MiB));
  else s.setLocalWindowSize(32 * MiB);
});

function frame(message) {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

server.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  if (headers[":path"] !== "/podfiles.v1.FileService/Download") {
    stream.respond({ ":status": 200, "content-type": "application/grpc", "grpc-status": "12" }, { endStream: true });
    return;
  }
  const parts = [];
  stream.on("data", (c) => parts.push(c));
  stream.on("end", () => {
    const body = Buffer.concat(parts);
    const req = fromBinary(pb.DownloadRequestSchema, body.subarray(5, 5 + body.readUInt32BE(1)));
    download(stream, req).catch((err) => stream.destroy(err));
  });
});

async function download(stream, req) {
  const chunk = Math.min(Math.max(req.chunkSize || MiB, 16 * 1024), 4 * MiB);
  const fd = fs.openSync(join(root, req.path), "r");
  try {
    const size = fs.fstatSync(fd).size;
    stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    const header = create(pb.DownloadResponseSchema, { part: { case: "header", value: { entry: { name: req.path, path: req.path, size: BigInt(size) }, offset: 0n, length: BigInt(size) } } });
    stream.write(frame(toBinary(pb.DownloadResponseSchema, header)));
    const hash = hashing ? createHash("sha256") : null;
    let pos = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(SPARE + chunk);
      const { bytesRead: n } = await read(fd, buf, SPARE, chunk, pos);
      if (n === 0) break;
      pos += n;
      hash?.update(buf.subarray(SPARE, SPARE + n));
      let v = 1;
      while (n >= 2 ** (7 * v)) v++;
      const start = SPARE - v - 1 - 5;
      buf[start] = 0;
      buf.writeUInt32BE(1 + v + n, start + 1);
      buf[start + 5] = 0x12; // field 2 (data), wire type 2
      let x = n;
      for (let i = 0; i < v; i++, x = Math.floor(x / 128)) buf[start + 6 + i] = (x & 0x7f) | (i < v - 1 ? 0x80 : 0);
      if (!stream.write(buf.subarray(start, SPARE + n))) await new Promise((r) => stream.once("drain", r));
      if (stream.destroyed) return;
    }
    const trailer = create(pb.DownloadResponseSchema, { part: { case: "trailer", value: { sha256: hash ? new Uint8Array(hash.digest()) : new Uint8Array(32), bytesSent: BigInt(pos) } } });
    stream.end(frame(toBinary(pb.DownloadResponseSchema, trailer)));
  } finally {
    fs.closeSync(fd);
  }
}

server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
