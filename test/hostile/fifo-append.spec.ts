// Issue #10, finding 2: nothing a container holds can block the event loop (the hung FUSE mount
// is test/server/hostile-fs.spec.ts's).
// - A FIFO: an APPEND upload (streaming and BeginUpload) onto it gets FAILED_PRECONDITION and
//   does not stall Health/Check or Stat. On 041aa0b the server blocked in a synchronous
//   open(O_WRONLY) until someone opened the FIFO for reading.
import { spawnSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { fileClients } from "../support/server.js";
import { uploadAll } from "../support/files.js";
import { codeAndMessage } from "../support/status.js";
import { Code } from "@connectrpc/connect";
import { assertAlive, healthCheck, sleep, startHostileServer, type HostileServer } from "./support/hostile-server.js";

const container = { namespace: "local", pod: "local", container: "local" };

const fmt = (n: number) => n.toFixed(1);

describe("an APPEND upload onto a FIFO (server in its own process)", () => {
  let root: string;
  let server: HostileServer;
  let clients: ReturnType<typeof fileClients>;
  const fifo = () => join(root, "pipe");

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "podfiles-fifo-"));
    writeFileSync(join(root, "healthy.txt"), "fine\n");
    const r = spawnSync("mkfifo", [fifo()]);
    if (r.status !== 0) throw new Error(`mkfifo failed: ${r.stderr}`);
    server = await startHostileServer(root);
    clients = fileClients(server.url);
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  /** Opens the FIFO's reading end without blocking, drains it briefly and closes it: frees a writer stuck in open(2). */
  async function unblockWriter() {
    const fd = openSync(fifo(), constants.O_RDONLY | constants.O_NONBLOCK);
    const buf = Buffer.alloc(65536);
    for (let i = 0; i < 10; i++) {
      try {
        readSync(fd, buf);
      } catch {
        // EAGAIN: nothing written (yet)
      }
      await sleep(20);
    }
    closeSync(fd);
  }

  /** Runs the call; meanwhile Health/Check and Stat must answer within 1 s; the call must end soon after as FAILED_PRECONDITION. */
  async function appendOntoFifo(what: string, call: Promise<unknown>) {
    const outcome = codeAndMessage(call);
    await sleep(200);
    // three tries of 1 s each (a loaded machine may miss one); a server stuck in open(2) misses all
    let health = "";
    for (let i = 0; i < 3 && !health.startsWith("answered"); i++)
      health = await healthCheck(server.url, 1000).then(
        (ms) => `answered in ${fmt(ms)} ms`,
        (e: Error) => e.message,
      );
    let statCode: Code | "ok" = Code.Unknown;
    let statMessage = "";
    let statMs = 0;
    for (let i = 0; i < 3 && statCode !== "ok"; i++) {
      const t0 = performance.now();
      [statCode, statMessage] = await codeAndMessage(clients.connectBinaryH1.stat({ container, path: "/healthy.txt" }, { timeoutMs: 1000 }));
      statMs = performance.now() - t0;
    }
    const result = await Promise.race([outcome, sleep(3000).then(() => undefined)]);
    await unblockWriter(); // an old server waits in open(O_WRONLY) for a reader
    console.log(
      `${what}: Health/Check ${health}; Stat ${statCode === "ok" ? "OK" : Code[statCode]} in ${fmt(statMs)} ms; upload ${result ? `${result[0] === "ok" ? "OK" : Code[result[0]]}: ${result[1]}` : "no answer within 3 s after the checks"}`,
    );
    expect.soft(health, `${what}: Health/Check meanwhile`).toMatch(/^answered/);
    expect.soft(statCode === "ok" ? "OK" : `${Code[statCode]}: ${statMessage}`, `${what}: Stat of a healthy file meanwhile`).toBe("OK");
    expect.soft(statMs, `${what}: Stat latency (ms) meanwhile`).toBeLessThan(1000);
    expect(result, `${what}: the upload did not end within 3 s after the checks`).toBeDefined();
    expect(result![0] === "ok" ? "OK" : Code[result![0]], `${what}: ${result![1]}`).toBe("FailedPrecondition");
    await assertAlive(server, what);
  }

  it("streaming Upload with APPEND at offset 0 onto a FIFO", async () => {
    await appendOntoFifo(
      "streaming APPEND onto a FIFO",
      uploadAll(clients.grpc, container, "/pipe", Buffer.alloc(1024, 0x61), { overwrite: OverwritePolicy.APPEND, offset: 0n }),
    );
  }, 30_000);

  it("BeginUpload with APPEND at offset 0 onto a FIFO", async () => {
    await appendOntoFifo(
      "BeginUpload APPEND onto a FIFO",
      clients.grpc.beginUpload({ container, path: "/pipe", options: { overwrite: OverwritePolicy.APPEND, offset: 0n } }),
    );
  }, 30_000);
});
