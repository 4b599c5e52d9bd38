// One transfer per process for bench/sdk.mjs: the SDK (createPodfilesClient from dist/) or the
// raw node:http2 baseline (8/32 MiB windows, 1 MiB chunks, as bench/client.mjs). With "file",
// a download is written to that file and fsync'd (what `podfiles get` does), on both sides.
//   node bench/sdk-client.mjs '<json>'  → {"bytes","ms","cpuS"} (cpuS: this process, the transfer only)
import * as http2 from "node:http2";
import * as fs from "node:fs";
import { pathToFileURL, fileURLToPath } from "node:url";

const MiB = 1024 * 1024;
const distDir = process.env.PODFILES_BENCH_DIST ?? fileURLToPath(new URL("../dist", import.meta.url));
const container = { namespace: "local", pod: "local", container: "local" };
const a = JSON.parse(process.argv[2]);

function rawSession(url) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { settings: { initialWindowSize: 8 * MiB, maxFrameSize: MiB - 1 } });
    session.once("error", reject);
    session.once("connect", () => {
      session.setLocalWindowSize(32 * MiB);
      resolve(session);
    });
  });
}

async function rawDownload() {
  const session = await rawSession(a.url);
  const fd = a.file ? fs.openSync(a.file, "w") : undefined;
  // to a file: staged into aligned 1 MiB blocks written with O_DIRECT, one written while the
  // other fills (what podfiles get does past the first MiB, src/direct-io.ts), the tail through
  // the page cache; "pageCache": true writes every chunk through the page cache instead
  const direct = fd !== undefined && !a.pageCache ? fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_WRONLY | fs.constants.O_DIRECT) : undefined;
  const blocks = direct === undefined ? [] : [0, 1].map(() => new Uint8Array(new WebAssembly.Memory({ initial: 16 }).buffer, 0, MiB));
  let turn = 0;
  let fill = 0;
  let blockAt = 0;
  let pending = Promise.resolve();
  const writeDirect = (block, at) => new Promise((resolve, reject) => fs.write(direct, block, 0, MiB, at, (err) => (err ? reject(err) : resolve())));
  let bytes = 0;
  const req = session.request({ ":path": `/download?path=${encodeURIComponent(a.path)}&chunk=${MiB}` });
  req.end();
  for await (const c of req) {
    bytes += c.length;
    if (fd === undefined) continue;
    if (direct === undefined) {
      fs.writeSync(fd, c);
      continue;
    }
    for (let at = 0; at < c.length; ) {
      const n = Math.min(MiB - fill, c.length - at);
      blocks[turn].set(c.subarray(at, at + n), fill);
      fill += n;
      at += n;
      if (fill === MiB) {
        await pending; // the other block's write: it is filled next
        pending = writeDirect(blocks[turn], blockAt);
        blockAt += MiB;
        turn ^= 1;
        fill = 0;
      }
    }
  }
  if (fd !== undefined) {
    await pending;
    if (fill > 0) fs.writeSync(fd, blocks[turn], 0, fill, blockAt);
    fs.fsyncSync(fd);
    if (direct !== undefined) fs.closeSync(direct);
    fs.closeSync(fd);
  }
  session.close();
  return bytes;
}

async function rawUpload() {
  const session = await rawSession(a.url);
  const fh = await fs.promises.open(a.src, "r");
  let bytes = 0;
  await new Promise((resolve, reject) => {
    const req = session.request({ ":method": "POST", ":path": `/upload?path=${encodeURIComponent(a.dest)}` });
    req.on("error", reject);
    req.on("data", () => {});
    req.on("end", resolve);
    (async () => {
      for (;;) {
        const buf = Buffer.allocUnsafe(MiB);
        const { bytesRead } = await fh.read(buf, 0, MiB, null);
        if (bytesRead === 0) break;
        bytes += bytesRead;
        if (!req.write(bytesRead === MiB ? buf : buf.subarray(0, bytesRead))) await new Promise((r) => req.once("drain", r));
      }
      req.end();
    })().catch(reject);
  });
  await fh.close();
  session.close();
  return bytes;
}

async function sdk() {
  const { createPodfilesClient } = await import(pathToFileURL(`${distDir}/src/index.js`).href);
  const client = createPodfilesClient({ baseUrl: a.url, container });
  await client.stat("/"); // the connection opens outside the timing, as for the raw client's session
  return client;
}

async function measure(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const bytes = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { bytes, ms, cpuS: (c.user + c.system) / 1e6 };
}

let result;
if (a.op === "raw-download") result = await measure(rawDownload);
else if (a.op === "raw-upload") result = await measure(rawUpload);
else if (a.op === "sdk-download") {
  const client = await sdk();
  result = await measure(async () => {
    if (a.file) return (await client.downloadToFile(a.path, a.file)).size;
    let n = 0;
    for await (const c of client.download(a.path, { digest: a.digest })) n += c.length;
    return n;
  });
  client.close();
} else if (a.op === "sdk-upload") {
  const client = await sdk();
  result = await measure(async () => (await client.upload(a.src, a.dest, { overwrite: "overwrite", digest: a.digest })).bytes);
  client.close();
} else throw new Error(`unknown op ${a.op}`);
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(0);
