// PROTOTYPE, not podfiles: what the zero-copy gRPC Download path proposed in
// DESIGN.md ("The wire") would reach, measured in the same run. It serves only
// /podfiles.v1.FileService/Download, on raw node:http2 with the same windows
// as podfiles, and frames each data message in place: the file is read into a
// buffer with 10 spare bytes in front, the gRPC prefix (flag + length), the
// field tag (2, bytes) and the varint length are written into those spare
// bytes, and the one buffer goes to the socket — no protobuf writer, no
// envelope copy. Header and trailer messages (small) use protobuf-es. The
// trailer carries the SHA-256 like podfiles does, unless --no-hash; with
// --hash-worker the digest runs in a worker thread on the same bytes (the read
// buffers live in SharedArrayBuffers, so nothing is copied), in parallel with
// the sending, and the trailer waits for it.
//   node bench/zero-copy-server.mjs ROOT [--no-hash | --hash-worker]  → prints {"port":N}
import * as http2 from "node:http2";
import * as fs from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { promisify } from "node:util";
import { pathToFileURL, fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";

const distDir = process.env.PODFILES_BENCH_DIST ?? fileURLToPath(new URL("../dist", import.meta.url));
const pb = await import(pathToFileURL(`${distDir}/gen/ts/podfiles/v1/files_pb.js`).href);
const MiB = 1024 * 1024;
const SPARE = 10; // 5 (gRPC prefix) + 1 (tag) + up to 4 (varint of a length < 2^28)
const read = promisify(fs.read);
const root = process.argv[2];
const hashing = !process.argv.includes("--no-hash");
const hashWorker = hashing && process.argv.includes("--hash-worker");

/** SHA-256 in a worker thread: update() shares the chunk's SharedArrayBuffer, digest() waits for the rest. */
class WorkerHash {
  static worker;
  static jobs = new Map();
  static next = 1;
  constructor() {
    if (!WorkerHash.worker) {
      WorkerHash.worker = new Worker(
        `const { parentPort } = require("node:worker_threads");
         const { createHash } = require("node:crypto");
         const hashes = new Map();
         parentPort.on("message", (m) => {
           if (m.t === "u") {
             let h = hashes.get(m.id);
             if (!h) hashes.set(m.id, (h = createHash("sha256")));
             h.update(new Uint8Array(m.sab, m.off, m.len));
             parentPort.postMessage({ t: "u", id: m.id });
           } else {
             const h = hashes.get(m.id) ?? createHash("sha256");
             hashes.delete(m.id);
             parentPort.postMessage({ t: "d", id: m.id, digest: h.digest() });
           }
         });`,
        { eval: true },
      );
      WorkerHash.worker.unref();
      WorkerHash.worker.on("message", (m) => WorkerHash.jobs.get(m.id)?.on(m));
    }
    this.id = WorkerHash.next++;
    this.pending = 0;
    this.waiters = [];
    WorkerHash.jobs.set(this.id, this);
  }
  on(m) {
    if (m.t === "u") {
      this.pending--;
      this.waiters.shift()?.();
    } else {
      WorkerHash.jobs.delete(this.id);
      this.done(m.digest);
    }
  }
  /** Queues a chunk; resolves at once unless the worker is more than 8 chunks behind. */
  async update(view) {
    this.pending++;
    WorkerHash.worker.postMessage({ t: "u", id: this.id, sab: view.buffer, off: view.byteOffset, len: view.byteLength });
    if (this.pending > 8) await new Promise((r) => this.waiters.push(r));
  }
  digest() {
    return new Promise((resolve) => {
      this.done = (d) => resolve(Buffer.from(d));
      WorkerHash.worker.postMessage({ t: "d", id: this.id });
    });
  }
}

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
    const header = create(pb.DownloadResponseSchema, {
      part: { case: "header", value: { entry: { name: req.path, path: req.path, size: BigInt(size) }, offset: 0n, length: BigInt(size) } },
    });
    stream.write(frame(toBinary(pb.DownloadResponseSchema, header)));
    const hash = hashWorker ? new WorkerHash() : hashing ? createHash("sha256") : null;
    let pos = 0;
    for (;;) {
      const buf = hashWorker ? Buffer.from(new SharedArrayBuffer(SPARE + chunk)) : Buffer.allocUnsafe(SPARE + chunk);
      const { bytesRead: n } = await read(fd, buf, SPARE, chunk, pos);
      if (n === 0) break;
      pos += n;
      if (hashWorker) await hash.update(buf.subarray(SPARE, SPARE + n));
      else hash?.update(buf.subarray(SPARE, SPARE + n));
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
    const trailer = create(pb.DownloadResponseSchema, {
      part: { case: "trailer", value: { sha256: hash ? new Uint8Array(await hash.digest()) : new Uint8Array(32), bytesSent: BigInt(pos) } },
    });
    stream.end(frame(toBinary(pb.DownloadResponseSchema, trailer)));
  } finally {
    fs.closeSync(fd);
  }
}

server.listen(0, "127.0.0.1", () => process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n"));
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
