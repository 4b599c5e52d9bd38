// The SDK's find(), diskUsage() and tail() against a real server in this process.
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, FileType, PodfilesError, createPodfilesClient, type PodfilesClient } from "../../src/index.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let client: PodfilesClient;
beforeAll(async () => {
  server = await startTestServer();
  mkdirSync(join(server.root, "d/sub"), { recursive: true });
  writeFileSync(join(server.root, "d/a.log"), "hello\n");
  writeFileSync(join(server.root, "d/sub/b.log"), "x".repeat(3000));
  client = createPodfilesClient({ baseUrl: server.url, container: server.container });
});
afterAll(async () => {
  client.close();
  await server.close();
});

describe("SDK find / diskUsage / tail", () => {
  it("find() yields matches one by one, with digests", async () => {
    const got: string[] = [];
    for await (const m of client.find("/d", { name: "*.log", types: [FileType.REGULAR], digest: "sha256" })) {
      expect(m.digest).toHaveLength(32);
      got.push(m.entry!.path);
    }
    expect(got.sort()).toEqual(["/d/a.log", "/d/sub/b.log"]);
    const err = await (async () => {
      for await (const _ of client.find("/d", { regex: "(" })) void _;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PodfilesError);
    expect((err as PodfilesError).code).toBe(Code.InvalidArgument);
  });

  it("diskUsage() yields totals, the directory last", async () => {
    const got = [];
    for await (const e of client.diskUsage("/d", { apparentSize: true })) got.push(e);
    expect(got.map((e) => e.path)).toEqual(["/d/sub", "/d"]);
    expect(got[0]!.bytes).toBeGreaterThanOrEqual(3000n);
  });

  it("tail() follows until the signal aborts, then ends quietly", async () => {
    const abort = new AbortController();
    let text = "";
    const done = (async () => {
      for await (const c of client.tail("/d/a.log", { follow: true, signal: abort.signal })) {
        text += Buffer.from(c.data).toString();
        if (text.includes("more\n")) abort.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 150));
    appendFileSync(join(server.root, "d/a.log"), "more\n");
    await done; // no throw: the caller stopped it
    expect(text).toBe("hello\nmore\n");
  });
});
