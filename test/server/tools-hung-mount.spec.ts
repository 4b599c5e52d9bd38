// Find, DiskUsage and Tail meeting a hung mount inside the root (a FUSE filesystem that never
// answers): each fails with UNAVAILABLE after the server's deadline instead of hanging, and the
// server keeps answering other paths meanwhile. A server process of its own (bin/podfiles.js, with
// its 128-thread pool), as in hostile-fs.spec.ts.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HungMount, hungMountUnavailable, mountHung } from "../support/hung-mount.js";
import { type ServerProcess, startServerProcess } from "../support/server-process.js";
import { fileClients } from "../support/server.js";
import { codeAndMessage } from "../support/status.js";

const noFuse = hungMountUnavailable();

describe.skipIf(noFuse !== undefined)(`Find, DiskUsage and Tail on a hung mount${noFuse ? ` (skipped: ${noFuse})` : ""}`, () => {
  let work: string;
  let server: ServerProcess;
  let hung: HungMount;
  const container = { namespace: "local", pod: "local", container: "local" };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "podfiles-tools-hung-"));
    mkdirSync(join(work, "root/mnt/hung"), { recursive: true });
    mkdirSync(join(work, "root/ok"));
    writeFileSync(join(work, "root/ok/f.log"), "fine\n");
    hung = await mountHung(join(work, "root/mnt/hung"));
    server = await startServerProcess(join(work, "root"));
  });
  afterAll(async () => {
    await hung?.release();
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("each fails with UNAVAILABLE naming the hung mount; other paths keep answering", { timeout: 60_000 }, async () => {
    const client = fileClients(server.url).grpc;
    const drain = async (it: AsyncIterable<unknown>) => {
      for await (const _ of it) void _;
    };
    const started = performance.now();
    const calls = [
      codeAndMessage(drain(client.find({ container, path: "/" }, { timeoutMs: 30_000 }))),
      codeAndMessage(drain(client.diskUsage({ container, path: "/" }, { timeoutMs: 30_000 }))),
      codeAndMessage(drain(client.tail({ container, path: "/mnt/hung/app.log", follow: true }, { timeoutMs: 30_000 }))),
    ];
    // meanwhile, the healthy part of the same root
    await new Promise((r) => setTimeout(r, 500));
    const ok: string[] = [];
    for await (const res of client.find({ container, path: "/ok" }, { timeoutMs: 5_000 })) ok.push(...res.matches.map((m) => m.entry!.path));
    expect(ok).toEqual(["/ok/f.log"]);
    let tailed = "";
    for await (const res of client.tail({ container, path: "/ok/f.log" }, { timeoutMs: 5_000 })) tailed += Buffer.from(res.data).toString();
    expect(tailed).toBe("fine\n");

    for (const [code, message] of await Promise.all(calls)) {
      expect(code).toBe(Code.Unavailable);
      expect(message).toMatch(/hung mount/);
    }
    expect(performance.now() - started).toBeLessThan(25_000); // the 10 s deadline, not the 30 s call timeout
  });
});
