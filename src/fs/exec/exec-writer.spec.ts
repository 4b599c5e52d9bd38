// A stand-in exec endpoint (named so: the real one is the API server + kubelet + runc, which the e2e
// suite drives in test/e2e/execfs.spec.ts). It speaks v5.channel.k8s.io and behaves as runc does
// in the one way these tests need: the command starts some time after the socket opened, and a
// command whose connection was already cut still starts and runs, with an empty stdin.
import { existsSync } from "node:fs";
import { appendFile, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { WebSocketServer } from "ws";
import { CLOSE, STATUS, STDIN, type ExecDialer } from "./exec-channel.js";
import { ExecRunner } from "./exec-runner.js";
import { ExecWriter } from "./exec-writer.js";

const START_DELAY_MS = 60;

let root: string;
let server: WebSocketServer;
let dialer: ExecDialer;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "exec-writer-"));
  server = new WebSocketServer({ port: 0, host: "127.0.0.1", handleProtocols: (p) => (p.has("v5.channel.k8s.io") ? "v5.channel.k8s.io" : false) });
  server.on("connection", (ws, req) => {
    const argv = new URL(req.url!, "http://x").searchParams.getAll("command");
    const inContainer = (p: string) => join(root, p);
    const exit = () => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(Buffer.concat([Buffer.from([STATUS]), Buffer.from('{"metadata":{},"status":"Success"}')]));
      ws.close();
    };
    if (argv[0] === "rm") {
      void rm(inContainer(argv[argv.length - 1]!), { force: true }).then(exit);
      return;
    }
    // sh -c 'dd … of="$1" && echo ok' sh <temp>: dd creates its file when the command starts
    const target = inContainer(argv[argv.length - 1]!);
    const received: Buffer[] = [];
    let stdinClosed = false;
    let started = false;
    let writes = Promise.resolve();
    ws.on("message", (m: Buffer) => {
      if (m[0] === STDIN) {
        received.push(m.subarray(1));
        if (started) writes = writes.then(() => appendFile(target, m.subarray(1)));
      } else if (m[0] === CLOSE && m[1] === STDIN) {
        stdinClosed = true;
        if (started) void writes.then(exit);
      }
    });
    setTimeout(() => {
      started = true;
      writes = writeFile(target, Buffer.concat(received));
      if (stdinClosed) void writes.then(exit);
    }, START_DELAY_MS);
  });
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  dialer = {
    url: (argv) => `ws://127.0.0.1:${port}/exec?${argv.map((a) => `command=${encodeURIComponent(String(a))}`).join("&")}`,
    options: async () => ({}),
    description: "pod ns/stand-in container c",
  };
});

afterEach(async () => {
  for (const ws of server.clients) ws.terminate();
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

const host = () => ({
  description: dialer.description,
  run: new ExecRunner(dialer),
  stat: async () => {
    throw new Error("not used");
  },
});

describe("ExecWriter.abort", () => {
  // Failed on the old abort (kill, then rm at once): the rm ran before the command had started,
  // and dd then created the temp file — the leftover CI saw in execfs.spec after a wrong digest.
  it("removes the temp file only after dd has exited, even when dd starts after the abort", async () => {
    const writer = await ExecWriter.open(host(), "/target", "/.podfiles-exec-0.part", { overwrite: "fail", mode: 0o644 } as never, false);
    await writer.write(Buffer.from("some bytes that will not be committed"));
    await writer.abort();
    await sleep(START_DELAY_MS * 3); // anything still to start has started
    expect(await readdir(root)).toEqual([]);
    expect(existsSync(join(root, "target"))).toBe(false);
  });
});
