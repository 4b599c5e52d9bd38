// Issue #10, finding 1: no client behaviour can kill the process. Every cancel shape × every
// protocol, several times each, against `podfiles serve` in its own process: a tar Download of a
// directory of 40 × 1 MiB files, a raw Download of a 64 MiB file, a recursive ListFiles and a
// streaming Upload, each given up on by the client in every way a client can. After each
// repetition the server must still run and answer Health/Check within 1 s (one of three tries:
// a loaded machine may miss it once; those are counted and printed); at the end it holds no
// more file handles than it started with and no upload temp file is left.
// On 041aa0b a cancelled tar Download over HTTP/1.1 killed it with "Error: download closed …
// Emitted 'error' event on Sink instance" within 1–5 tries.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ArchiveFormat,
  DownloadRequestSchema,
  DownloadResponseSchema,
  ListFilesRequestSchema,
  ListFilesResponseSchema,
  UploadRequestSchema,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import { fileClients } from "../support/server.js";
import { random } from "../support/files.js";
import { codeName } from "../support/status.js";
import { assertAlive, pathFds, sleep, slowHealth, startHostileServer, tempLeftovers, type HostileServer } from "./support/hostile-server.js";
import { PROTOCOLS, curlHead, envelope, rawCallThenDestroy, type Protocol } from "./support/raw-calls.js";

const MiB = 1024 * 1024;
/** Repetitions per cell (PODFILES_CANCEL_REPS overrides; 3 keeps the file under a minute on 2 cores). */
const REPS = Number(process.env.PODFILES_CANCEL_REPS ?? 3);
const container = { namespace: "local", pod: "local", container: "local" };

let root: string;
let server: HostileServer;
let clients: ReturnType<typeof fileClients>;
/** Cells whose client h2 session had to be replaced after an Internal outcome (see the cell loop). */
const clientSessionRetries: string[] = [];
let baseline: { total: number; paths: number };
let ran = 0;
const deaths: string[] = [];

async function start() {
  server = await startHostileServer(root);
  clients = fileClients(server.url);
  // warm every client's connection up so that the fd baseline includes them
  for (const p of PROTOCOLS) await clients[p].stat({ container, path: "/big.bin" });
  baseline = { total: server.fds().length, paths: pathFds(server).length };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "podfiles-cancel-"));
  mkdirSync(join(root, "dir"));
  for (let i = 0; i < 40; i++) writeFileSync(join(root, "dir", `f${String(i).padStart(2, "0")}.bin`), random(MiB));
  writeFileSync(join(root, "big.bin"), random(64 * MiB));
  // a tree of 1,500 entries for the recursive listings (page size 10: 150 messages)
  for (let d = 0; d < 30; d++) {
    mkdirSync(join(root, "tree", `d${d}`), { recursive: true });
    for (let f = 0; f < 49; f++) writeFileSync(join(root, "tree", `d${d}`, `file-${f}.txt`), "x");
  }
  mkdirSync(join(root, "up"));
  await start();
}, 120_000);

afterAll(async () => {
  await server?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
  console.log(
    `cancel matrix: ${ran} cancelled calls run (cells × ${REPS} reps); server deaths: ${deaths.length}${deaths.length ? `\n  ${deaths.join("\n  ")}` : ""}; ` +
      `Health/Check answers that needed a retry (over 1 s once): ${slowHealth.length}${slowHealth.length ? `\n  ${slowHealth.join("\n  ")}` : ""}; ` +
      `client h2 sessions replaced after an Internal outcome: ${clientSessionRetries.length}${clientSessionRetries.length ? `\n  ${clientSessionRetries.join("\n  ")}` : ""}`,
  );
});

// A server killed by an earlier cell is restarted, so that every cell is judged on its own.
beforeEach(async () => {
  if (server.exited()) await start();
});

type Target = "tar Download of a directory" | "raw Download of 64 MiB" | "ListFiles -r";
const TARGETS: Record<
  Target,
  { method: string; schema: DescMessage; response: DescMessage; request: () => MessageShape<DescMessage>; bytes: [number, number] }
> = {
  "tar Download of a directory": {
    method: "Download",
    schema: DownloadRequestSchema,
    response: DownloadResponseSchema,
    request: () => create(DownloadRequestSchema, { container, path: "/dir", format: ArchiveFormat.TAR }),
    bytes: [64 * 1024, 4 * MiB],
  },
  "raw Download of 64 MiB": {
    method: "Download",
    schema: DownloadRequestSchema,
    response: DownloadResponseSchema,
    request: () => create(DownloadRequestSchema, { container, path: "/big.bin" }),
    bytes: [64 * 1024, 4 * MiB],
  },
  "ListFiles -r": {
    method: "ListFiles",
    schema: ListFilesRequestSchema,
    response: ListFilesResponseSchema,
    request: () => create(ListFilesRequestSchema, { container, path: "/tree", recursive: true, pageSize: 10 }),
    bytes: [1024, 60 * 1024],
  },
};

/** A random byte count in the target's range; a quarter of it for Connect JSON, whose base64 makes every byte cost more. */
const between = ([lo, hi]: [number, number], protocol: Protocol) => {
  const scale = protocol === "connectJson" ? 4 : 1;
  return Math.floor((lo + Math.random() * (hi - lo)) / scale);
};

/** Starts the server-streaming call through the generated client with an abort signal. */
function streamCall(protocol: Protocol, target: Target, signal: AbortSignal): AsyncIterable<{ size: number }> {
  const t = TARGETS[target];
  const c = clients[protocol];
  const req = t.request();
  const source: AsyncIterable<MessageShape<DescMessage>> =
    t.method === "Download" ? c.download(req as never, { signal }) : c.listFiles(req as never, { signal });
  return {
    async *[Symbol.asyncIterator]() {
      for await (const msg of source) yield { size: toBinary(t.response, msg).length };
    },
  };
}

type Shape = "abort after the first message" | "abort after N bytes" | "abort before the header" | "socket destroyed mid-stream" | "curl -N | head -c 2000";
const SHAPES: Shape[] = [
  "abort after the first message",
  "abort after N bytes",
  "abort before the header",
  "socket destroyed mid-stream",
  "curl -N | head -c 2000",
];

async function runStreamCancel(protocol: Protocol, target: Target, shape: Shape): Promise<string> {
  const t = TARGETS[target];
  if (shape === "socket destroyed mid-stream") {
    const r = await rawCallThenDestroy(server.url, protocol, t.method, [envelope(protocol, t.schema, t.request())], {
      destroyAfterBytes: between(t.bytes, protocol),
    });
    return r.how;
  }
  if (shape === "curl -N | head -c 2000") {
    const code = await curlHead(server.url, protocol, t.method, envelope(protocol, t.schema, t.request()));
    return `sh exit ${code}`;
  }
  const abort = new AbortController();
  const limit = shape === "abort after N bytes" ? between(t.bytes, protocol) : 1;
  let received = 0;
  const call = (async () => {
    for await (const m of streamCall(protocol, target, abort.signal)) {
      received += m.size;
      if (received >= limit) abort.abort();
    }
  })();
  if (shape === "abort before the header") setTimeout(() => abort.abort(), Math.floor(Math.random() * 3));
  const outcome = await Promise.race([codeName(call), sleep(10_000).then(() => "no end within 10 s")]);
  return outcome;
}

type UploadShape = "abort mid-stream" | "abort before any data" | "socket destroyed mid-stream";
const UPLOAD_SHAPES: UploadShape[] = ["abort mid-stream", "abort before any data", "socket destroyed mid-stream"];
let uploads = 0;

async function runUploadCancel(protocol: Protocol, shape: UploadShape): Promise<{ outcome: string; path: string }> {
  const path = `/up/u${uploads++}.bin`;
  const header = create(UploadRequestSchema, { part: { case: "header", value: { container, path, options: { expectedSize: BigInt(8 * MiB) } } } });
  const chunk = () => create(UploadRequestSchema, { part: { case: "data", value: random(256 * 1024) } });
  if (shape === "socket destroyed mid-stream") {
    const bodies = [header, chunk(), chunk(), chunk(), chunk()].map((m) => envelope(protocol, UploadRequestSchema, m));
    const r = await rawCallThenDestroy(server.url, protocol, "Upload", bodies, { keepBodyOpen: true, destroyAfterMs: 100 + Math.floor(Math.random() * 100) });
    return { outcome: r.how, path };
  }
  const abort = new AbortController();
  async function* requests() {
    yield header;
    if (shape === "abort mid-stream") for (let i = 0; i < 4; i++) yield chunk();
    await sleep(50 + Math.floor(Math.random() * 100));
    abort.abort();
    await sleep(2000);
  }
  const outcome = await Promise.race([
    codeName(clients[protocol].upload(requests(), { signal: abort.signal })),
    sleep(10_000).then(() => "no end within 10 s"),
  ]);
  return { outcome, path };
}

async function afterRep(cell: string, rep: number) {
  ran++;
  // the crash of #10 came a few ms after the cancel, from an 'error' event on the tar pack
  await sleep(20);
  try {
    await assertAlive(server, `${cell}, repetition ${rep + 1} of ${REPS}`);
  } catch (err) {
    deaths.push(`${cell} (rep ${rep + 1}): ${server.exited() ?? "unhealthy"}`);
    throw err;
  }
}

describe("cancel shapes × protocols (server in its own process)", () => {
  for (const target of Object.keys(TARGETS) as Target[]) {
    for (const shape of SHAPES) {
      for (const protocol of PROTOCOLS) {
        const cell = `${target} · ${shape} · ${protocol}`;
        it(
          cell,
          async () => {
            for (let rep = 0; rep < REPS; rep++) {
              let outcome = await runStreamCancel(protocol, target, shape);
              await afterRep(cell, rep);
              if (outcome === "Internal" && (protocol === "grpc" || protocol === "connectH2")) {
                // Seen once in CI on Node 24 (server alive, h1 cells fine): the client's shared HTTP/2
                // session turned bad after a cancel and every later h2 call failed at once as Internal.
                // The server's survival is checked above; the client's view is retried once on a new
                // session and must then be Canceled. Counted and printed, not hidden.
                clientSessionRetries.push(`${cell} (rep ${rep + 1})`);
                clients = fileClients(server.url);
                outcome = await runStreamCancel(protocol, target, shape);
                await afterRep(cell, rep);
              }
              // the client's own view: a cancel through the library ends the call as Canceled, never hangs
              if (shape.startsWith("abort")) expect(outcome, `${cell}: client outcome`).toBe("Canceled");
            }
          },
          30_000 + REPS * 10_000,
        );
      }
    }
  }

  for (const shape of UPLOAD_SHAPES) {
    for (const protocol of PROTOCOLS) {
      const cell = `streaming Upload · ${shape} · ${protocol}`;
      it(
        cell,
        async () => {
          for (let rep = 0; rep < REPS; rep++) {
            const { outcome, path } = await runUploadCancel(protocol, shape);
            await afterRep(cell, rep);
            // expected_size was 8 MiB and 1 MiB at most arrived: nothing may be committed, and the temp file goes
            let left = tempLeftovers(join(root, "up"));
            for (let i = 0; i < 60 && left.length > 0; i++) {
              await sleep(50);
              left = tempLeftovers(join(root, "up"));
            }
            expect(left, `${cell}: upload temp files left 3 s after the cancel`).toEqual([]);
            expect(existsSync(join(root, path)), `${cell}: a cancelled upload committed ${path}`).toBe(false);
            if (shape !== "socket destroyed mid-stream") expect(outcome, `${cell}: client outcome`).toBe("Canceled");
          }
        },
        30_000 + REPS * 10_000,
      );
    }
  }

  it("holds no more file handles than at start, and leaves no upload temp file", async () => {
    await assertAlive(server, "the whole matrix");
    let now = { total: server.fds().length, paths: pathFds(server).length };
    for (let i = 0; i < 50 && (now.paths > baseline.paths || now.total > baseline.total + 16); i++) {
      await sleep(100);
      now = { total: server.fds().length, paths: pathFds(server).length };
    }
    console.log(`server fds: ${baseline.total} at start (${baseline.paths} naming paths), ${now.total} at the end (${now.paths} naming paths)`);
    expect(now.paths, `file handles still open: ${pathFds(server).join(", ")}`).toBeLessThanOrEqual(baseline.paths);
    // sockets of connections the clients just closed may linger briefly; a leak per call would be hundreds
    expect(now.total).toBeLessThanOrEqual(baseline.total + 16);
    expect(tempLeftovers(root)).toEqual([]);
  }, 30_000);
});
