// cp's pod → pod path in-process against a real server: the SDK's copy (the Copy RPC) is used when
// the server has it; when it answers Copy UNIMPLEMENTED (a server from before Copy: a stand-in copy
// answering that way here) the bytes are streamed through the client instead.
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPodfilesClient, type PodfilesClient } from "../../src/client/node-client.js";
import { PodfilesError } from "../../src/client/errors.js";
import { copyBetweenPods } from "../../src/client/pod-to-pod.js";
import { startTestServer, type TestServer } from "../support/server.js";

const container = { namespace: "local", pod: "local", container: "" };
let server: TestServer;
let client: PodfilesClient;

beforeAll(async () => {
  server = await startTestServer();
  client = createPodfilesClient({ baseUrl: server.url });
});
afterAll(async () => {
  client?.close();
  await server?.close();
});

describe("copyBetweenPods", () => {
  it("the real Copy RPC: the file arrives with its bytes and the source's mode, nothing streamed through the client", async () => {
    const data = randomBytes(1024 * 1024 + 3);
    fs.writeFileSync(join(server.root, "rpc-src.bin"), data, { mode: 0o640 });
    const r = await copyBetweenPods(client, { container, path: "/rpc-src.bin" }, { container, path: "/rpc-dst.bin" }, { overwrite: false, makeParents: false });
    expect(r).toMatchObject({ via: "copy", bytes: data.length });
    expect(fs.readFileSync(join(server.root, "rpc-dst.bin")).equals(data)).toBe(true);
    expect(fs.statSync(join(server.root, "rpc-dst.bin")).mode & 0o777).toBe(0o640);
  });

  it("on UNIMPLEMENTED (a stand-in copy answering as a server without the Copy RPC) streams instead", async () => {
    const data = randomBytes(1024 * 1024 + 1);
    fs.writeFileSync(join(server.root, "src.bin"), data, { mode: 0o600 });
    const tried: string[] = [];
    const withoutCopy = Object.assign(Object.create(client) as PodfilesClient, {
      async copy(from: { path: string }, to: { path: string }) {
        tried.push(`${from.path}→${to.path}`);
        throw PodfilesError.from(new ConnectError("Copy is not implemented", Code.Unimplemented));
      },
    });
    const r = await copyBetweenPods(withoutCopy, { container, path: "/src.bin" }, { container, path: "/dst.bin" }, { overwrite: false, makeParents: false });
    expect(tried).toEqual(["/src.bin→/dst.bin"]);
    expect(r).toMatchObject({ via: "stream", bytes: data.length });
    expect(fs.readFileSync(join(server.root, "dst.bin")).equals(data)).toBe(true);
    expect(fs.statSync(join(server.root, "dst.bin")).mode & 0o777).toBe(0o600);
  });

  it("on UNAVAILABLE (agents that cannot reach each other; a stand-in copy answering so) streams instead, and says why", async () => {
    const data = randomBytes(300_001);
    fs.writeFileSync(join(server.root, "u-src.bin"), data);
    const unreachable = Object.assign(Object.create(client) as PodfilesClient, {
      async copy() {
        throw PodfilesError.from(new ConnectError("cannot reach the server (connect ECONNREFUSED 10.234.0.2:8080)", Code.Unavailable));
      },
    });
    const r = await copyBetweenPods(
      unreachable,
      { container, path: "/u-src.bin" },
      { container, path: "/u-dst.bin" },
      { overwrite: false, makeParents: false },
    );
    expect(r).toMatchObject({ via: "stream", bytes: data.length });
    expect(r.fallback).toContain("ECONNREFUSED 10.234.0.2:8080");
    expect(fs.readFileSync(join(server.root, "u-dst.bin")).equals(data)).toBe(true);
  });

  it("uses the client's copy when it answers, with the source's mode and the overwrite policy (a stand-in copy that records its call)", async () => {
    fs.writeFileSync(join(server.root, "m.sh"), "#!/bin/sh\n", { mode: 0o750 });
    const calls: unknown[] = [];
    const recording = Object.assign(Object.create(client) as PodfilesClient, {
      async copy(from: unknown, to: unknown, options: Record<string, unknown>) {
        calls.push({ from, to, overwrite: options.overwrite, mode: options.mode, makeParents: options.makeParents });
        return { bytes: 10 };
      },
    });
    const r = await copyBetweenPods(recording, { container, path: "/m.sh" }, { container, path: "/n.sh" }, { overwrite: true, makeParents: true });
    expect(r).toMatchObject({ via: "copy", bytes: 10 });
    expect(calls).toEqual([{ from: { container, path: "/m.sh" }, to: { container, path: "/n.sh" }, overwrite: "overwrite", mode: 0o750, makeParents: true }]);
    expect(fs.existsSync(join(server.root, "n.sh"))).toBe(false);
  });
});
