// A slow reader must not make the server buffer the file: the server (its own
// process) is ahead of the client by a few flow-control windows at most, and
// its memory does not grow with the file.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fileClients } from "../support/server.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { random } from "../support/files.js";

const MiB = 1024 * 1024;
let root: string;
let server: ServerProcess;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "podfiles-bp-"));
  writeFileSync(join(root, "big.bin"), random(256 * MiB));
  server = await startServerProcess(root);
});
afterAll(async () => {
  await server.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("backpressure", () => {
  for (const protocol of ["grpc", "connectBinaryH1"] as const) {
    it(`a paused ${protocol} reader keeps the server's memory flat`, async () => {
      const client = fileClients(server.url)[protocol];
      const container = { namespace: "local", pod: "local", container: "local" };
      const before = server.rss();
      let received = 0;
      let peak = before;
      for await (const msg of client.download({ container, path: "/big.bin" })) {
        if (msg.part.case !== "data") continue;
        received += msg.part.value.length;
        if (received === 8 * MiB) {
          // stall for a while: an unthrottled server would read the whole 256 MiB into memory now
          for (let i = 0; i < 10; i++) {
            await new Promise((r) => setTimeout(r, 100));
            peak = Math.max(peak, server.rss());
          }
        }
        peak = Math.max(peak, server.rss());
      }
      expect(received).toBe(256 * MiB);
      console.log(`${protocol}: server RSS before ${(before / MiB).toFixed(0)} MiB, peak ${(peak / MiB).toFixed(0)} MiB`);
      // HTTP/2 windows (8 MiB stream, 32 MiB session) and socket buffers allow tens of MiB, never the file
      expect(peak - before).toBeLessThan(96 * MiB);
    }, 120_000);
  }
});
