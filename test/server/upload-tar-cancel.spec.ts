// A tar Upload whose caller hangs up mid-stream must not leave a rejected promise nobody handles:
// in the agent (Node's default --unhandled-rejections=throw) that ends the process, so any caller
// could stop the agent by cancelling a tar upload. Seen on main before the fix: one unhandled
// "protocol error: incomplete envelope" per cancelled upload (the tar feeder's promise had no
// handler until the extraction loop noticed the failure).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import tar from "tar-stream";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ArchiveFormat, UploadRequestSchema } from "../../gen/ts/podfiles/v1/files_pb.js";
import { random } from "../support/files.js";
import { startTestServer, type TestServer } from "../support/server.js";

/** Slows the server's reading of each message, so the cancel lands while the tar is still coming. */
const slowly: Interceptor = (next) => async (req) => {
  if (!req.stream) return next(req);
  const messages = req.message;
  async function* delayed() {
    for await (const m of messages) {
      await new Promise((r) => setTimeout(r, 50));
      yield m;
    }
  }
  return next({ ...req, message: delayed() } as typeof req);
};

let s: TestServer;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => void unhandled.push(reason);
beforeAll(async () => {
  s = await startTestServer({ interceptors: [slowly] });
  mkdirSync(join(s.root, "into"));
  process.on("unhandledRejection", onUnhandled);
});
afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  await s?.close();
});

it.each([false, true])(
  "a tar Upload cancelled mid-stream leaves no unhandled rejection (make_parents %s)",
  async (makeParents) => {
    const pack = tar.pack();
    for (let i = 0; i < 16; i++) pack.entry({ name: `f${i}` }, random(1024 * 1024));
    pack.finalize();
    const stop = new AbortController();
    async function* requests() {
      const path = makeParents ? "/new/dir" : "/into";
      yield create(UploadRequestSchema, {
        part: { case: "header", value: { container: s.container, path, options: { format: ArchiveFormat.TAR, makeParents } } },
      });
      let n = 0;
      for await (const chunk of pack as AsyncIterable<Buffer>) {
        yield create(UploadRequestSchema, { part: { case: "data", value: chunk } });
        if (++n === 10) setTimeout(() => stop.abort(), 200);
      }
    }
    await expect(s.clients.grpc.upload(requests(), { signal: stop.signal })).rejects.toThrow();
    // the server notices the cut stream when it next reads: wait for it to have done so
    await new Promise((r) => setTimeout(r, 2000));
    expect(unhandled.map(String)).toEqual([]);
  },
  20_000,
);
