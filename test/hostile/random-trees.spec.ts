// Issue #10, property-based: random hostile trees (symlinks out of the root by absolute path and by
// `..` chains, FIFOs, unix sockets, chains hundreds of levels deep, names that are not UTF-8) and
// random concurrent operations (ListFiles -r, Stat, Download raw/tar, Upload, Remove -r, Rename)
// over random protocols, some cancelled after a random delay. Invariants, after every run: the
// server (its own process) runs and answers Health/Check within 1 s (one of three tries); nothing outside the root
// changed (a sentinel directory every escaping symlink would land in, contents and mtimes); no
// upload temp file is left; every call ended within a bound with a status from the allowed set
// (never INTERNAL or UNKNOWN).
// A second property, kept apart until names that are not UTF-8 get their escaped form: every name
// in such a tree is listed exactly once and downloads as itself, and Remove -r removes it all.
import { createHash } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { realpathSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveFormat, FileType, OverwritePolicy, UploadRequestSchema } from "../../gen/ts/podfiles/v1/files_pb.js";
import { fileClients } from "../support/server.js";
import { codeAndMessage } from "../support/status.js";
import { Code } from "@connectrpc/connect";
import { assertAlive, escapeName, pathFds, sleep, slowHealth, startHostileServer, tempLeftovers, type HostileServer } from "./support/hostile-server.js";
import { buildTree, isUtf8, nameArb, nonUtf8Name, treeArb, type Built, type TreeNode, type Where } from "./support/random-tree.js";
import { PROTOCOLS, type Protocol } from "./support/raw-calls.js";

const container = { namespace: "local", pod: "local", container: "local" };
/** A call that has not ended after this long counts as a hang. */
const CALL_BOUND_MS = 8000;
/** Statuses a call may end with on a hostile tree; INTERNAL, UNKNOWN, UNAVAILABLE (no hung mount here), DATA_LOSS… are defects. */
const ALLOWED = new Set([
  "OK",
  "Canceled",
  "NotFound",
  "AlreadyExists",
  "FailedPrecondition",
  "InvalidArgument",
  "PermissionDenied",
  "OutOfRange",
  "Aborted",
  "ResourceExhausted",
  "DeadlineExceeded",
]);

let where: Where;
let server: HostileServer;
let clients: ReturnType<typeof fileClients>;
let sentinelBefore: string;
let restarts = 0;
const stats = { runs: 0, calls: 0, cancelled: 0, statuses: {} as Record<string, number> };

/** Every server this file started: afterAll stops them all. */
const started: HostileServer[] = [];
let closing = false;

async function start() {
  if (closing) throw new Error("the suite is closing: no new server");
  server = await startHostileServer(where.root);
  started.push(server);
  clients = fileClients(server.url);
}

/**
 * fast-check's interruptAfterTimeLimit stops waiting for a run but does not stop the run itself:
 * each property body is tracked, and the test waits for the last one before going on.
 */
let inFlight: Promise<unknown> = Promise.resolve();
function tracked<A extends unknown[]>(body: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return (...args: A) => {
    const run = body(...args);
    inFlight = run.catch(() => {});
    return run;
  };
}
const settle = () => Promise.race([inFlight, sleep(20_000)]);

/** A server stuck or dead after a failed run is replaced, so each run is judged on its own. */
async function ensureServer() {
  const healthy = await assertAlive(server, "the previous run").then(
    () => true,
    () => false,
  );
  if (healthy) return;
  restarts++;
  if (!server.exited()) {
    const gone = new Promise((r) => server.child.once("exit", r));
    server.child.kill("SIGKILL");
    await gone;
  }
  await start();
}

/** Everything outside the root that an escape could touch: the sentinel's entries (type, mode, size, mtime, content) and base's names. */
function snapshotOutside(): string {
  const lines: string[] = [`base: ${readdirSync(where.base).sort().join(",")}`];
  const walk = (abs: string, rel: string) => {
    const st = lstatSync(abs);
    let extra = "";
    if (st.isFile()) extra = createHash("sha256").update(readFileSync(abs)).digest("hex");
    if (st.isSymbolicLink()) extra = readlinkSync(abs);
    lines.push(`${rel} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${st.mtimeMs} ${extra}`);
    if (st.isDirectory()) for (const n of readdirSync(abs).sort()) walk(join(abs, n), `${rel}/${n}`);
  };
  walk(where.sentinel, "outside");
  return lines.join("\n");
}

beforeAll(async () => {
  const base = realpathSync(mkdtempSync(join(tmpdir(), "podfiles-trees-")));
  where = { base, root: join(base, "root"), sentinel: join(base, "outside"), scratch: join(base, "scratch") };
  mkdirSync(where.root);
  mkdirSync(where.scratch);
  mkdirSync(join(where.sentinel, "dir"), { recursive: true });
  writeFileSync(join(where.sentinel, "victim.txt"), "outside the root: must never change\n");
  writeFileSync(join(where.sentinel, "dir", "inner.txt"), "also outside\n");
  sentinelBefore = snapshotOutside();
  await start();
}, 60_000);

afterAll(async () => {
  closing = true;
  await settle();
  await Promise.all(started.map((s) => s.stop()));
  // rm(1), not fs.rmSync: it removes names that are not UTF-8 as the bytes they are
  if (where) spawnSync("rm", ["-rf", where.base]);
  console.log(
    `random trees: ${stats.runs} runs, ${stats.calls} calls (${stats.cancelled} cancelled by the client), ` +
      `statuses ${JSON.stringify(stats.statuses)}, server restarts after a failed run: ${restarts}, ` +
      `Health/Check answers that needed a retry: ${slowHealth.length}`,
  );
});

type OpKind = "list" | "stat" | "download-raw" | "download-tar" | "upload" | "remove" | "rename";
/** Which nodes an op picks its path from: any, one kind, or paths through a symlink. */
type Pool = "any" | "file" | "dir" | "fifo" | "socket" | "deep" | "through";
interface Op {
  kind: OpKind;
  pick: number;
  pool: Pool;
  protocol: Protocol;
  cancelAfterMs: number | null;
  policy: OverwritePolicy;
  size: number;
  follow: boolean;
}
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom<OpKind>("list", "stat", "download-raw", "download-tar", "upload", "remove", "rename"),
  pick: fc.nat(),
  pool: fc.constantFrom<Pool>("any", "any", "file", "dir", "fifo", "fifo", "socket", "deep", "through", "through"),
  protocol: fc.constantFrom(...PROTOCOLS),
  cancelAfterMs: fc.option(fc.integer({ min: 0, max: 60 }), { freq: 3 }),
  policy: fc.constantFrom(OverwritePolicy.FAIL, OverwritePolicy.OVERWRITE, OverwritePolicy.APPEND),
  size: fc.nat(300_000),
  follow: fc.boolean(),
});

const drain = async (it: AsyncIterable<unknown>) => {
  for await (const _ of it);
};
const dirOf = (p: string) => p.slice(0, p.lastIndexOf("/")) || "/";

/** Runs one op; resolves with its status name, or "hang" after CALL_BOUND_MS. */
async function runOp(op: Op, candidates: Built, seq: number): Promise<{ what: string; status: string; message: string }> {
  const chosen = op.pool === "any" ? candidates.paths : op.pool === "through" ? candidates.throughLinks : candidates.byKind[op.pool];
  const pool = chosen.length ? chosen : candidates.paths;
  const path = pool[op.pick % pool.length];
  const c = clients[op.protocol];
  const abort = new AbortController();
  const signal = abort.signal;
  let call: Promise<unknown>;
  let what = `${op.kind} ${JSON.stringify(path)} over ${op.protocol}`;
  switch (op.kind) {
    case "list":
      call = drain(c.listFiles({ container, path, recursive: true, includeHidden: true }, { signal }));
      break;
    case "stat":
      call = c.stat({ container, path, followSymlinks: op.follow }, { signal });
      break;
    case "download-raw":
      call = drain(c.download({ container, path, format: ArchiveFormat.RAW }, { signal }));
      break;
    case "download-tar":
      call = drain(c.download({ container, path, format: ArchiveFormat.TAR }, { signal }));
      break;
    case "upload": {
      // onto the picked path itself (overwrite / append at 0) or a new file beside it
      const target = op.policy === OverwritePolicy.FAIL ? `${dirOf(path)}/up-${seq}.bin` : path;
      what = `upload ${OverwritePolicy[op.policy]} ${JSON.stringify(target)} (${op.size} B) over ${op.protocol}`;
      const data = Buffer.alloc(op.size, 0x5a);
      async function* requests() {
        yield create(UploadRequestSchema, { part: { case: "header", value: { container, path: target, options: { overwrite: op.policy, offset: 0n } } } });
        for (let i = 0; i < data.length; i += 64 * 1024) yield create(UploadRequestSchema, { part: { case: "data", value: data.subarray(i, i + 64 * 1024) } });
      }
      call = c.upload(requests(), { signal });
      break;
    }
    case "remove":
      call = c.remove({ container, path, recursive: true }, { signal });
      break;
    case "rename": {
      const other =
        candidates.throughLinks.length && op.pick % 2
          ? candidates.throughLinks[(op.pick >> 3) % candidates.throughLinks.length]
          : `${dirOf(path)}/renamed-${seq}`;
      what = `rename ${JSON.stringify(path)} → ${JSON.stringify(other)} over ${op.protocol}`;
      call = c.rename({ container, path, newPath: other }, { signal });
      break;
    }
  }
  if (op.cancelAfterMs !== null) {
    stats.cancelled++;
    what += ` (cancelled after ${op.cancelAfterMs} ms)`;
    setTimeout(() => abort.abort(), op.cancelAfterMs);
  }
  const ended = await Promise.race([codeAndMessage(call), sleep(CALL_BOUND_MS).then(() => undefined)]);
  if (!ended) {
    abort.abort();
    return { what, status: "hang", message: `no answer within ${CALL_BOUND_MS} ms` };
  }
  return { what, status: ended[0] === "ok" ? "OK" : Code[ended[0]], message: ended[1] };
}

let runSeq = 0;

/**
 * Two runs every time, besides the random ones: the shapes the issue reported (an APPEND upload
 * onto a FIFO; tar Downloads of big files cancelled over HTTP/1.1), so that the property meets them
 * even when the random runs do not.
 */
const op = (o: Partial<Op> & Pick<Op, "kind" | "pool" | "protocol">): Op => ({
  pick: 0,
  cancelAfterMs: null,
  policy: OverwritePolicy.FAIL,
  size: 1024,
  follow: false,
  ...o,
});
const bigDir = {
  kind: "dir" as const,
  name: Buffer.from("big"),
  children: [0, 1, 2].map((i) => ({ kind: "file" as const, name: Buffer.from(`f${i}`), size: 3 << 20 })),
};
const KNOWN_SHAPES: [TreeNode[], Op[]][] = [
  [
    [
      { kind: "fifo", name: Buffer.from("pipe") },
      { kind: "file", name: Buffer.from("ok.txt"), size: 10 },
    ],
    [op({ kind: "upload", pool: "fifo", protocol: "grpc", policy: OverwritePolicy.APPEND }), op({ kind: "stat", pool: "file", protocol: "connectJson" })],
  ],
  [
    [bigDir],
    (["connectBinaryH1", "grpcWeb", "connectJson"] as const).map((protocol, i) =>
      op({ kind: "download-tar", pool: "dir", protocol, cancelAfterMs: 5 + 10 * i }),
    ),
  ],
  // found by this property in CI on Node 24 (seed 166564226): a tar download cancelled 15 ms in while two
  // listings run; the tar entry's reader was left with a failed read-ahead ("read after close") that
  // nobody awaited, and the unhandled rejection ended the server
  [
    [bigDir],
    [
      op({ kind: "list", pool: "any", protocol: "grpc", size: 0 }),
      op({ kind: "list", pool: "any", protocol: "grpc", size: 694 }),
      op({ kind: "download-tar", pool: "dir", protocol: "connectJson", cancelAfterMs: 15, size: 0 }),
    ],
  ],
];

describe("random hostile trees × random concurrent operations and cancels (server in its own process)", () => {
  it("the server stays up and answers, nothing outside the root changes, nothing is left behind, no call ends INTERNAL or hangs", async () => {
    await fc
      .assert(
        fc.asyncProperty(
          treeArb,
          fc.array(opArb, { minLength: 2, maxLength: 8 }),
          tracked(async (tree, ops) => {
            await ensureServer();
            stats.runs++;
            const rel = `r${runSeq++}`;
            const built = await buildTree(where, rel, tree);
            const fdsBefore = pathFds(server).length;
            const results = await Promise.all(ops.map((op, i) => runOp(op, built, i)));
            for (const r of results) {
              stats.calls++;
              stats.statuses[r.status] = (stats.statuses[r.status] ?? 0) + 1;
            }
            const bad = results.filter((r) => !ALLOWED.has(r.status));
            const problems: string[] = bad.map((r) => `${r.what}: ${r.status}: ${r.message}`);

            const alive = await assertAlive(server, `the operations on ${rel}`).then(
              () => "",
              (e: Error) => e.message,
            );
            if (alive) problems.push(alive);
            const outside = snapshotOutside();
            if (outside !== sentinelBefore) problems.push(`something outside the root changed:\n--- before\n${sentinelBefore}\n--- after\n${outside}`);
            let left = tempLeftovers(where.root);
            for (let i = 0; i < 40 && left.length; i++) {
              await sleep(50);
              left = tempLeftovers(where.root);
            }
            if (left.length) problems.push(`upload temp files left behind: ${left.join(", ")}`);
            if (!server.exited()) {
              let fds = pathFds(server).length;
              for (let i = 0; i < 40 && fds > fdsBefore; i++) {
                await sleep(50);
                fds = pathFds(server).length;
              }
              if (fds > fdsBefore) problems.push(`file handles leaked: ${fds} open, ${fdsBefore} before the run`);
            }
            if (problems.length)
              throw new Error(
                `${problems.length} invariant(s) broken (tree ${rel}: ${JSON.stringify(built.counts)}, ${built.nonUtf8} non-UTF-8 names):\n${problems.join("\n")}`,
              );
            spawnSync("rm", ["-rf", join(where.root, rel)]);
          }),
        ),
        { numRuns: 30, examples: KNOWN_SHAPES, interruptAfterTimeLimit: 50_000, markInterruptAsFailure: false },
      )
      .finally(settle);
    console.log(`random trees (main property): ${stats.runs} runs done`);
    expect(stats.runs).toBeGreaterThan(0);
  }, 120_000);

  it("names that are not UTF-8 are each listed exactly once, download as themselves and Remove -r removes them (their escaped form, src/fs/name-bytes.ts)", async () => {
    // names in one directory: some not UTF-8, some whose lossy decoding collides with another name or with a real U+FFFD name
    // (and a name that literally spells an escape: `a\xff` as four characters must stay apart from the byte 0xff)
    const collide = [Buffer.from([0x61, 0xff]), Buffer.from([0x61, 0xfe]), Buffer.from("a\uFFFD"), Buffer.from("a\\xff"), Buffer.from("plain.txt")];
    const namesArb = fc.uniqueArray(fc.oneof(nonUtf8Name, nameArb), { minLength: 1, maxLength: 8, selector: (b) => b.toString("hex") });
    const failures: string[] = [];
    let runs = 0;
    await fc
      .assert(
        fc.asyncProperty(
          namesArb,
          fc.boolean(),
          tracked(async (names, inSubdir) => {
            await ensureServer();
            runs++;
            const rel = `u${runSeq++}`;
            const top = join(where.root, rel);
            mkdirSync(top);
            // the files sit in the top directory, or in a subdirectory whose own name is not UTF-8
            const sub = inSubdir ? Buffer.from([0x64, 0xe9]) : undefined;
            const dirAbs = sub ? Buffer.concat([Buffer.from(top), Buffer.from("/"), sub]) : Buffer.from(top);
            if (sub) mkdirSync(dirAbs);
            const content = (i: number) => `file #${i} of ${rel}\n`;
            names.forEach((n, i) => writeFileSync(Buffer.concat([dirAbs, Buffer.from("/"), n]), content(i)));
            const onDisk = names.length + (sub ? 1 : 0);

            const listed: string[] = [];
            const directories = new Set<string>();
            const [code, message] = await codeAndMessage(
              (async () => {
                for await (const b of clients.grpc.listFiles(
                  { container, path: `/${rel}`, recursive: true, includeHidden: true },
                  { timeoutMs: CALL_BOUND_MS },
                ))
                  for (const e of b.entries) {
                    listed.push(e.path);
                    if (e.type === FileType.DIRECTORY) directories.add(e.path);
                  }
              })(),
            );
            const problems: string[] = [];
            const shown = names.map((n) => `${escapeName(n)} [${n.toString("hex")}]`).join(", ");
            if (code !== "ok") problems.push(`ListFiles -r failed: ${Code[code]}: ${message}`);
            if (listed.length !== onDisk)
              problems.push(
                `listed ${listed.length} entries for ${onDisk} on disk (${shown}${sub ? ` in dir ${escapeName(sub)}` : ""}): ${JSON.stringify(listed)}`,
              );
            if (new Set(listed).size !== listed.length) problems.push(`a path is listed twice: ${JSON.stringify(listed)}`);
            // each listed file downloads as exactly one of the files on disk, and together they are all of them
            const seen = new Map<number, string>();
            for (const p of listed) {
              if (directories.has(p)) continue; // the subdirectory: its files are checked one by one
              const [dc, dm, body] = await (async (): Promise<[string, string, string]> => {
                const parts: Buffer[] = [];
                const [c2, m2] = await codeAndMessage(
                  (async () => {
                    for await (const m of clients.grpc.download({ container, path: p }, { timeoutMs: CALL_BOUND_MS }))
                      if (m.part.case === "data") parts.push(Buffer.from(m.part.value));
                  })(),
                );
                return [c2 === "ok" ? "OK" : Code[c2], m2, Buffer.concat(parts).toString()];
              })();
              if (dc !== "OK") {
                if (dc !== "FailedPrecondition" || !/directory/i.test(dm)) problems.push(`Download ${JSON.stringify(p)}: ${dc}: ${dm}`);
                continue;
              }
              const i = names.findIndex((_, k) => content(k) === body);
              if (i < 0) problems.push(`Download ${JSON.stringify(p)} returned bytes of no file: ${JSON.stringify(body.slice(0, 60))}`);
              else if (seen.has(i)) problems.push(`${JSON.stringify(p)} and ${JSON.stringify(seen.get(i))} both show the file ${escapeName(names[i])}`);
              else seen.set(i, p);
            }
            if (seen.size !== names.length) problems.push(`only ${seen.size} of ${names.length} files reachable by their listed path (${shown})`);
            const [rc, rm] = await codeAndMessage(clients.grpc.remove({ container, path: `/${rel}`, recursive: true }, { timeoutMs: CALL_BOUND_MS }));
            if (rc !== "ok") problems.push(`Remove -r /${rel}: ${Code[rc]}: ${rm}`);
            else if (existsSync(top)) problems.push(`Remove -r /${rel} answered OK but the directory is still there`);
            spawnSync("rm", ["-rf", top]);
            if (problems.length) {
              failures.push(problems[0]);
              throw new Error(problems.join("\n"));
            }
          }),
        ),
        {
          numRuns: 12,
          examples: [
            [collide, false],
            [collide, true],
          ],
          interruptAfterTimeLimit: 15_000,
          markInterruptAsFailure: false,
        },
      )
      .finally(async () => {
        await settle();
        console.log(`random trees (non-UTF-8 names): ${runs} runs${failures.length ? `, first failure: ${failures[0]}` : ""}`);
      });
    expect(isUtf8(Buffer.from([0x61, 0xff]))).toBe(false); // the generator really makes names that are not UTF-8
  }, 60_000);
});
