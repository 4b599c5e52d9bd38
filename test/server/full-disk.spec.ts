// A full disk in the middle of an upload (a real 2 MiB tmpfs mounted inside the served root):
// RESOURCE_EXHAUSTED, and nothing left behind — the writes in flight are waited for before the
// temp file is removed. Needs root for mount(8); fails loudly without it.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { random, uploadAll } from "../support/files.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { codeName as codeOf } from "../support/status.js";

const MiB = 1024 * 1024;
let server: TestServer;
let small: string;

beforeAll(async () => {
  server = await startTestServer();
  small = join(server.root, "small");
  mkdirSync(small);
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m,mode=0755", "podfiles-test-full", small]);
});
afterAll(async () => {
  if (small) execFileSync("umount", [small]);
  await server.close();
});

describe("a full disk", () => {
  for (const protocol of ["grpc", "connectH2"] as const) {
    it(`Upload over ${protocol}: RESOURCE_EXHAUSTED and no partial or temp file`, async () => {
      const err = await uploadAll(server.clients[protocol], server.container, "/small/big.bin", random(6 * MiB), {}, 256 * 1024).catch((e) =>
        ConnectError.from(e),
      );
      expect(err).toBeInstanceOf(ConnectError);
      expect(Code[(err as ConnectError).code]).toBe("ResourceExhausted");
      expect((err as ConnectError).rawMessage).toMatch(/no space left/);
      expect(readdirSync(small)).toEqual([]);
    });
  }

  it("the chunked upload: the chunk that does not fit fails, abort leaves nothing", async () => {
    const client = server.clients.connectBinaryH1;
    const begin = await client.beginUpload({ container: server.container, path: "/small/chunked.bin", options: { overwrite: OverwritePolicy.OVERWRITE } });
    let failed = "OK";
    for (let offset = 0n; failed === "OK" && offset < BigInt(6 * MiB); offset += BigInt(MiB)) {
      failed = await codeOf(
        client.writeUploadChunk({ container: server.container, path: "/small/chunked.bin", uploadId: begin.uploadId, offset, data: random(MiB) }),
      );
    }
    expect(failed).toBe("ResourceExhausted");
    await client.abortUpload({ container: server.container, path: "/small/chunked.bin", uploadId: begin.uploadId });
    expect(readdirSync(small)).toEqual([]);
  });
});
