// node bench/curl.mjs [--size MiB] [--reps N] [--hash-worker]     (npm run build first)
//
// Issue #16: curl as the client (nothing of podfiles on the client side) against `podfiles serve`
// with each digest (SHA-256, CRC-32, none) and against the raw node:http2 server
// (bench/raw-h2-server.mjs: 8/32 MiB windows, 1 MiB reads; uploads written and fsync'd, through the page cache and with O_DIRECT: ratios are against the faster), in one
// run, reps interleaved (the order rotates per rep). Download: gRPC over h2c, one DownloadRequest
// read by curl from a file, the response to /dev/null. Upload: gRPC client stream, the whole
// request body (header with expected_size and expected_digest, then 1 MiB data messages) streamed
// by curl from a file (-T), as curl sends it (16 KiB DATA frames); the raw server gets the file itself.
// Every podfiles call must end with grpc-status 0 (the server checked the size and the digest).
// Reports MiB/s (curl's time_total), × raw, and the server's CPU per GiB (utime+stime from
// /proc/<pid>/stat around each transfer). With --hash-worker it adds the prototype of
// bench/zero-copy-server.mjs with and without its SHA-256 worker (downloads only).
import { closeSync, mkdtempSync, openSync, readFileSync, readSync as readSyncRaw, rmSync, writeFileSync, writeSync } from "node:fs";
import { randomFillSync } from "node:crypto";
import { crc32 } from "node:zlib";
import { createHash } from "node:crypto";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { GiB, MiB, cpuSeconds, distDir, distReady, fmt, median, run, snapshotDist, startPodfiles, startRawH2, textTable } from "./lib.mjs";

const argv = process.argv.slice(2);
const arg = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const SIZE = arg("--size", 1024) * MiB;
const REPS = arg("--reps", 3);
const WORKER = argv.includes("--hash-worker");
const log = (m) => process.stderr.write(`[curl-bench] ${m}\n`);

if (!distReady()) throw new Error("run npm run build first");
const dropSnapshot = snapshotDist();
const pb = await import(pathToFileURL(`${distDir}/gen/ts/podfiles/v1/files_pb.js`).href);
const { create, toBinary } = await import("@bufbuild/protobuf");

const root = mkdtempSync(join(tmpdir(), "podfiles-curl-bench-"));
const scratch = mkdtempSync(join(tmpdir(), "podfiles-curl-bench-req-"));
const container = { namespace: "local", pod: "local", container: "local" };
const servers = [];
try {
  log(
    `writing ${SIZE / MiB} MiB of random bytes; load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}, ${cpus().length} cores`,
  );
  const big = join(root, "big.bin");
  const fd = openSync(big, "w");
  const block = Buffer.allocUnsafe(16 * MiB);
  const sha = createHash("sha256");
  let crc = 0;
  for (let at = 0; at < SIZE; at += block.length) {
    const n = Math.min(block.length, SIZE - at);
    randomFillSync(block, 0, n);
    writeSync(fd, block, 0, n);
    sha.update(block.subarray(0, n));
    crc = crc32(block.subarray(0, n), crc);
  }
  closeSync(fd);
  const crcBytes = Buffer.alloc(4);
  crcBytes.writeUInt32BE(crc >>> 0);
  const digests = { SHA256: sha.digest(), CRC32: crcBytes, NONE: Buffer.alloc(0) };

  const envelope = (msg) => {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(msg.length, 1);
    return Buffer.concat([head, msg]);
  };
  // one DownloadRequest file per digest
  const downloadReq = {};
  for (const alg of Object.keys(digests)) {
    downloadReq[alg] = join(scratch, `download-${alg}.req`);
    const msg = create(pb.DownloadRequestSchema, { container, path: "/big.bin", digestAlgorithm: pb.DigestAlgorithm[alg] });
    writeFileSync(downloadReq[alg], envelope(toBinary(pb.DownloadRequestSchema, msg)));
  }
  // one upload body, its header rewritten in place per digest (paths padded to one header length)
  const headerOf = (alg, pad) =>
    envelope(
      toBinary(
        pb.UploadRequestSchema,
        create(pb.UploadRequestSchema, {
          part: {
            case: "header",
            value: {
              container,
              path: `/up-${alg}${"x".repeat(pad)}.bin`,
              options: {
                overwrite: pb.OverwritePolicy.OVERWRITE,
                expectedSize: BigInt(SIZE),
                digestAlgorithm: pb.DigestAlgorithm[alg],
                expectedDigest: digests[alg],
              },
            },
          },
        }),
      ),
    );
  const headerLength = Math.max(...Object.keys(digests).map((a) => headerOf(a, 0).length));
  const headers = Object.fromEntries(Object.keys(digests).map((a) => [a, headerOf(a, headerLength - headerOf(a, 0).length)]));
  const uploadBody = join(scratch, "upload.body");
  {
    const out = openSync(uploadBody, "w");
    writeSync(out, headers.SHA256);
    const src = openSync(big, "r");
    const chunk = Buffer.allocUnsafe(MiB);
    for (let at = 0; at < SIZE; at += MiB) {
      const n = Math.min(MiB, SIZE - at);
      readSync(src, chunk, n, at);
      const prefix = Buffer.alloc(5 + 1 + 5);
      // envelope + field 2 (bytes) + varint length
      const field = Buffer.from([(2 << 3) | 2, ...varint(n)]);
      prefix.writeUInt32BE(field.length + n, 1);
      writeSync(out, Buffer.concat([prefix.subarray(0, 5), field, chunk.subarray(0, n)]));
    }
    closeSync(src);
    closeSync(out);
  }
  // warm the page cache for both files
  readFileSync(big);
  readFileSync(uploadBody);

  const pod = await startPodfiles(root);
  servers.push(pod);
  const raw = await startRawH2(root);
  servers.push(raw);
  const zc = WORKER ? await startRawH2(root, "zero-copy-server.mjs") : undefined;
  const zcWorker = WORKER ? await startRawH2(root, "zero-copy-server.mjs", ["--hash-worker"]) : undefined;
  if (zc) servers.push(zc, zcWorker);
  const GRPC = "/podfiles.v1.FileService";

  /** One curl transfer: seconds (curl's time_total), the server's CPU seconds, the gRPC status. */
  async function curl(server, url, extra) {
    const dump = join(scratch, "headers.txt");
    const cpu0 = cpuSeconds(server.pid);
    const r = await run(
      "curl",
      [
        "--silent",
        "--show-error",
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-D",
        dump,
        "-w",
        "%{time_total} %{size_download} %{size_upload}",
        ...extra,
        url,
      ],
      {
        timeoutMs: 120_000 + (SIZE / MiB) * 200,
      },
    );
    const cpu = cpuSeconds(server.pid) - cpu0;
    if (r.code !== 0) throw new Error(`curl ${url}: exit ${r.code}: ${r.stderr}`);
    const [seconds, down, up] = r.stdout.trim().split(" ").map(Number);
    const status = /grpc-status: ?(\d+)/.exec(readFileSync(dump, "utf8"))?.[1];
    return { seconds, cpu, down, up, status };
  }
  // --data-binary @FILE reads the whole file into memory first (1 GiB: "out of memory" here); -T streams it
  const grpcArgs = (file, stream = false) => [
    "-H",
    "content-type: application/grpc",
    "-H",
    "te: trailers",
    ...(stream ? ["-X", "POST", "-T", file] : ["--data-binary", `@${file}`]),
  ];

  const stacks = {
    download: {
      raw: () => curl(raw, `${raw.url}/download?path=big.bin`, []),
      SHA256: () => curl(pod, `${pod.url}${GRPC}/Download`, grpcArgs(downloadReq.SHA256)),
      CRC32: () => curl(pod, `${pod.url}${GRPC}/Download`, grpcArgs(downloadReq.CRC32)),
      NONE: () => curl(pod, `${pod.url}${GRPC}/Download`, grpcArgs(downloadReq.NONE)),
      ...(zc
        ? {
            "zero-copy prototype, SHA-256 inline": () => curl(zc, `${zc.url}${GRPC}/Download`, grpcArgs(downloadReq.SHA256)),
            "zero-copy prototype, SHA-256 in a worker": () => curl(zcWorker, `${zcWorker.url}${GRPC}/Download`, grpcArgs(downloadReq.SHA256)),
          }
        : {}),
    },
    upload: {
      raw: () => curl(raw, `${raw.url}/upload?path=up-raw.bin&direct=0`, ["-X", "POST", "-T", big]),
      "raw, O_DIRECT": () => curl(raw, `${raw.url}/upload?path=up-raw-direct.bin`, ["-X", "POST", "-T", big]),
      ...Object.fromEntries(
        Object.keys(digests).map((alg) => [
          alg,
          async () => {
            const out = openSync(uploadBody, "r+");
            writeSync(out, headers[alg], 0, headers[alg].length, 0);
            closeSync(out);
            return curl(pod, `${pod.url}${GRPC}/Upload`, grpcArgs(uploadBody, true));
          },
        ]),
      ),
    },
  };

  const results = { download: {}, upload: {} };
  for (let rep = 0; rep < REPS; rep++) {
    for (const kind of ["download", "upload"]) {
      const names = Object.keys(stacks[kind]);
      const order = names.map((_, i) => names[(i + rep) % names.length]);
      for (const name of order) {
        const r = await stacks[kind][name]();
        if (!name.startsWith("raw") && r.status !== "0") throw new Error(`${kind} ${name}: grpc-status ${r.status}`);
        const mibps = SIZE / MiB / r.seconds;
        (results[kind][name] ??= []).push({ mibps, cpuPerGiB: r.cpu / (SIZE / GiB) });
        log(`rep ${rep + 1} ${kind} ${name}: ${fmt(mibps, "MiB/s")}, server CPU ${fmt(r.cpu / (SIZE / GiB), "s/GiB")}`);
      }
    }
  }

  const table = [];
  for (const kind of ["download", "upload"]) {
    // the baseline at its best: the faster of its configurations (page cache or O_DIRECT writes)
    const rawNames = Object.keys(results[kind]).filter((n) => n.startsWith("raw"));
    const rawMed = Math.max(...rawNames.map((n) => median(results[kind][n].map((r) => r.mibps))));
    for (const [name, rs] of Object.entries(results[kind])) {
      const m = median(rs.map((r) => r.mibps));
      table.push([
        kind,
        name === "raw"
          ? "raw node:http2"
          : name.startsWith("raw")
            ? `raw node:http2, ${name.slice(5)}`
            : name.startsWith("zero")
              ? name
              : `podfiles gRPC, ${name}`,
        rs.map((r) => r.mibps.toFixed(0)).join(" / "),
        m.toFixed(0),
        name.startsWith("raw") ? "" : `${(m / rawMed).toFixed(2)}×`,
        median(rs.map((r) => r.cpuPerGiB)).toFixed(2),
      ]);
    }
  }
  const header = ["", "server", "MiB/s per rep", "median", "× best raw", "server CPU s/GiB (median)"];
  process.stdout.write(`${textTable(header, table)}\n`);
  process.stdout.write(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")} (${cpus().length} cores)\n`,
  );
  writeFileSync(join(import.meta.dirname, "results/curl-latest.json"), JSON.stringify({ size: SIZE, reps: REPS, results, loadavg: loadavg() }, null, 2));
} finally {
  for (const s of servers) await s.stop();
  rmSync(root, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
  dropSnapshot();
}

function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function readSync(fd, buf, n, position) {
  let got = 0;
  while (got < n) {
    const r = readSyncRaw(fd, buf, got, n - got, position + got);
    if (r === 0) throw new Error("short read");
    got += r;
  }
}
