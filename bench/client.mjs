// Benchmark client: one operation per process, so the client never shares an
// event loop (or a garbage collector) with the server it measures.
//   node bench/client.mjs '<json>'   → prints one JSON line with the result on stdout
// Operations: download, upload, list, stat-loop (see the switch at the bottom).
import * as http2 from "node:http2";
import { open } from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { pathToFileURL } from "node:url";

// The bench's snapshot of dist/ (see snapshotDist in lib.mjs), else dist/.
const distDir = process.env.PODFILES_BENCH_DIST ?? fileURLToPath(new URL("../dist", import.meta.url));
const { FileService, OverwritePolicy } = await import(pathToFileURL(`${distDir}/gen/ts/podfiles/v1/files_pb.js`).href);
// the same session manager the project's clients use (connection window 32 MiB)
const { WideSessionManager } = await import(pathToFileURL(`${distDir}/src/client/wide-session-manager.js`).href);

const require = createRequire(import.meta.url);
const MiB = 1024 * 1024;
const STREAM_WINDOW = 8 * MiB;
const SESSION_WINDOW = 32 * MiB;
const container = { namespace: "local", pod: "local", container: "local" };
const now = () => performance.now();

/** Generated TS clients, with the large windows every project client sets. */
function podfilesClient(stack, url) {
  const nodeOptions = { settings: { initialWindowSize: STREAM_WINDOW, maxFrameSize: MiB - 1 } };
  const h2 = { httpVersion: "2", nodeOptions, sessionManager: new WideSessionManager(url, nodeOptions) };
  const limits = { readMaxBytes: 64 * MiB, writeMaxBytes: 64 * MiB, acceptCompression: [], sendCompression: undefined };
  switch (stack) {
    case "grpc":
      return createClient(FileService, createGrpcTransport({ baseUrl: url, ...h2, ...limits }));
    case "connect-h1":
      return createClient(FileService, createConnectTransport({ baseUrl: url, httpVersion: "1.1", useBinaryFormat: true, ...limits }));
    case "connect-h2":
      return createClient(FileService, createConnectTransport({ baseUrl: url, ...h2, useBinaryFormat: true, ...limits }));
    default:
      throw new Error(`unknown stack ${stack}`);
  }
}

function rawSession(url) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { settings: { initialWindowSize: STREAM_WINDOW, maxFrameSize: MiB - 1 } });
    session.once("error", reject);
    session.once("connect", () => {
      session.setLocalWindowSize(SESSION_WINDOW);
      resolve(session);
    });
  });
}

function grpcJsClient(url) {
  const grpc = require("@grpc/grpc-js");
  const loader = require("@grpc/proto-loader");
  const protoDir = fileURLToPath(new URL("../proto", import.meta.url));
  const def = loader.loadSync("podfiles/v1/files.proto", { includeDirs: [protoDir], longs: String, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def);
  const target = new URL(url).host;
  return new pkg.podfiles.v1.FileService(target, grpc.credentials.createInsecure(), {
    "grpc-node.flow_control_window": STREAM_WINDOW,
    "grpc.max_receive_message_length": 64 * MiB,
    "grpc.max_send_message_length": 64 * MiB,
  });
}

// ---------------------------------------------------------------- download

async function downloadOnce(stack, ctx, path, chunkSize) {
  let bytes = 0;
  let firstByte = 0;
  const t0 = now();
  if (stack === "raw-h2") {
    await new Promise((resolve, reject) => {
      const req = ctx.request({ ":path": `/download?path=${encodeURIComponent(path)}&chunk=${chunkSize}` });
      req.on("response", (h) => {
        if (h[":status"] !== 200) reject(new Error(`raw-h2 status ${h[":status"]}`));
      });
      req.on("data", (c) => {
        if (bytes === 0) firstByte = now() - t0;
        bytes += c.length;
      });
      req.on("end", resolve);
      req.on("error", reject);
      req.end();
    });
  } else if (stack === "grpcjs") {
    await new Promise((resolve, reject) => {
      const call = ctx.Download({ container, path, chunkSize });
      call.on("data", (m) => {
        if (m.data) {
          if (bytes === 0) firstByte = now() - t0;
          bytes += m.data.length;
        }
      });
      call.on("end", resolve);
      call.on("error", reject);
    });
  } else {
    for await (const m of ctx.download({ container, path, chunkSize })) {
      if (m.part.case === "data") {
        if (bytes === 0) firstByte = now() - t0;
        bytes += m.part.value.length;
      }
    }
  }
  return { bytes, ms: now() - t0, firstByteMs: firstByte };
}

async function makeCtx(stack, url) {
  if (stack === "raw-h2") return rawSession(url);
  if (stack === "grpcjs") return grpcJsClient(url);
  return podfilesClient(stack, url);
}

function closeCtx(stack, ctx) {
  if (stack === "raw-h2") ctx.close();
  if (stack === "grpcjs") ctx.close();
}

async function download(a) {
  const ctx = await makeCtx(a.stack, a.url);
  // Warm the connection (and the server's handler) with a tiny call.
  if (a.warm) await downloadOnce(a.stack, ctx, a.warm, 64 * 1024);
  const n = a.concurrency ?? 1;
  const t0 = now();
  const results = await Promise.all(Array.from({ length: n }, () => downloadOnce(a.stack, ctx, a.path, a.chunkSize)));
  const ms = now() - t0;
  closeCtx(a.stack, ctx);
  const bytes = results.reduce((s, r) => s + r.bytes, 0);
  if (a.expectBytes !== undefined && bytes !== a.expectBytes * n) throw new Error(`received ${bytes} bytes, expected ${a.expectBytes * n}`);
  return { bytes, ms, firstByteMs: Math.min(...results.map((r) => r.firstByteMs)) };
}

// ---------------------------------------------------------------- upload

async function* fileChunks(src, chunkSize) {
  const fh = await open(src, "r");
  try {
    for (;;) {
      const buf = Buffer.allocUnsafe(chunkSize);
      const { bytesRead } = await fh.read(buf, 0, chunkSize, null);
      if (bytesRead === 0) return;
      yield bytesRead === chunkSize ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

async function upload(a) {
  const t0 = now();
  let bytes = 0;
  if (a.stack === "raw-h2") {
    const session = await rawSession(a.url);
    await new Promise((resolve, reject) => {
      const req = session.request({ ":method": "POST", ":path": `/upload?path=${encodeURIComponent(a.dest)}` });
      req.on("error", reject);
      req.on("response", (h) => {
        if (h[":status"] !== 200) reject(new Error(`raw-h2 upload status ${h[":status"]}`));
      });
      req.on("data", () => {});
      req.on("end", resolve);
      (async () => {
        for await (const c of fileChunks(a.src, a.chunkSize)) {
          bytes += c.length;
          if (!req.write(c)) await new Promise((r) => req.once("drain", r));
        }
        req.end();
      })().catch(reject);
    });
    session.close();
  } else if (a.stack === "grpc-stream") {
    const client = podfilesClient("grpc", a.url);
    async function* requests() {
      yield { part: { case: "header", value: { container, path: a.dest, options: { overwrite: OverwritePolicy.OVERWRITE } } } };
      for await (const c of fileChunks(a.src, a.chunkSize)) {
        bytes += c.length;
        yield { part: { case: "data", value: c } };
      }
    }
    const res = await client.upload(requests());
    if (Number(res.bytesReceived) !== bytes) throw new Error(`server received ${res.bytesReceived} of ${bytes}`);
  } else if (a.stack === "chunked-h1" || a.stack === "chunked-h2" || a.stack === "chunked-grpc") {
    const client = podfilesClient({ "chunked-h1": "connect-h1", "chunked-h2": "connect-h2", "chunked-grpc": "grpc" }[a.stack], a.url);
    const begin = await client.beginUpload({ container, path: a.dest, options: { overwrite: OverwritePolicy.OVERWRITE } });
    let offset = 0n;
    for await (const c of fileChunks(a.src, a.chunkSize)) {
      const r = await client.writeUploadChunk({ container, path: a.dest, uploadId: begin.uploadId, offset, data: c });
      offset = r.committedSize;
      bytes += c.length;
    }
    const done = await client.commitUpload({ container, path: a.dest, uploadId: begin.uploadId });
    if (Number(done.bytesReceived) !== bytes) throw new Error(`server received ${done.bytesReceived} of ${bytes}`);
  } else {
    throw new Error(`unknown upload stack ${a.stack}`);
  }
  return { bytes, ms: now() - t0 };
}

// ---------------------------------------------------------------- list, stat

async function list(a) {
  const client = podfilesClient("grpc", a.url);
  await client.stat({ container, path: "/" }); // open the connection first
  const t0 = now();
  let first = 0;
  let entries = 0;
  let batches = 0;
  for await (const m of client.listFiles({ container, path: a.path, pageSize: a.pageSize ?? 0 })) {
    if (batches === 0) first = now() - t0;
    batches++;
    entries += m.entries.length;
  }
  return { entries, batches, firstBatchMs: first, ms: now() - t0 };
}

/** Stat in a loop until stdin closes; prints "ready" first, then the latencies at the end. */
async function statLoop(a) {
  const client = podfilesClient("grpc", a.url);
  await client.stat({ container, path: a.path });
  let stop = false;
  process.stdin.on("data", () => {});
  process.stdin.on("end", () => (stop = true));
  process.stdin.on("close", () => (stop = true));
  process.stdout.write("ready\n");
  const lat = [];
  while (!stop) {
    const t0 = now();
    await client.stat({ container, path: a.path });
    lat.push(now() - t0);
    await new Promise((r) => setTimeout(r, a.intervalMs ?? 10));
  }
  return { latencies: lat };
}

const args = JSON.parse(process.argv[2]);
const ops = { download, upload, list, "stat-loop": statLoop };
try {
  const result = await ops[args.op](args);
  process.stdout.write(JSON.stringify(result) + "\n");
  process.exit(0);
} catch (err) {
  process.stderr.write(`client error: ${err?.stack ?? err}\n`);
  process.exit(1);
}
