// Issue #10, findings 4 and 8, with the server in its own process (the built bin/podfiles.js):
// - after a SIGKILL mid-APPEND the file holds its original bytes plus a prefix of the new ones,
//   and an APPEND at offset = the file's size completes it;
// - temp files of uploads the killed server left behind are removed when `serve --root` starts;
// - `--allow-setid` is the one switch that keeps setuid/setgid bits.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { fileClients } from "../support/server.js";
import { random, sha256, uploadAll } from "../support/files.js";
import { until } from "../support/until.js";

const container = { namespace: "local", pod: "local", container: "local" };
const roots: string[] = [];
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

function newRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "podfiles-kill-"));
  roots.push(root);
  return root;
}

async function start(root: string, args: string[] = []): Promise<ServerProcess> {
  const s = await startServerProcess(root, args);
  servers.push(s);
  return s;
}

const killed = (s: ServerProcess) =>
  new Promise<void>((resolve) => {
    if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
    s.child.once("exit", () => resolve());
    s.child.kill("SIGKILL");
  });

/** Temp files (the `.NAME.podfiles-HEX.part` scheme) anywhere under dir. */
const tempFiles = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((n) => /\.podfiles-[0-9a-f]{12}\.part$/.test(n));

describe("a server killed mid-upload", () => {
  it("leaves the APPEND target as original bytes + a prefix of the new ones; a resumed APPEND completes it; the restart removes the temp files", async () => {
    const root = newRoot();
    const base = random(100_000);
    const more = random(32 * 1024 * 1024);
    writeFileSync(join(root, "log.bin"), base);
    const first = await start(root);
    const clients = fileClients(first.url);

    // an APPEND and a create (temp file) in flight, fed slowly so the kill lands mid-stream
    const slow = async function* (data: Buffer) {
      for (let off = 0; off < data.length; off += 256 * 1024) {
        yield data.subarray(off, off + 256 * 1024);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const appending = uploadAll(clients.grpc, container, "/log.bin", slow(more), { overwrite: OverwritePolicy.APPEND, offset: BigInt(base.length) }).catch(
      () => "failed",
    );
    const creating = uploadAll(clients.grpc, container, "/new.bin", slow(more)).catch(() => "failed");
    await until(
      "the append to be under way",
      async () => (statSync(join(root, "log.bin")).size > base.length + 2 * 1024 * 1024 ? true : undefined),
      20_000,
      20,
    );
    await until("the temp file to exist", async () => (tempFiles(root).length === 1 ? true : undefined), 20_000, 20);
    await killed(first);
    expect(await appending).toBe("failed");
    expect(await creating).toBe("failed");

    const after = readFileSync(join(root, "log.bin"));
    const landed = after.length - base.length;
    expect(landed).toBeGreaterThan(0);
    expect(landed).toBeLessThan(more.length);
    expect(sha256(after)).toBe(sha256(Buffer.concat([base, more.subarray(0, landed)])));
    expect(tempFiles(root).length).toBe(1); // the killed server's temp file of /new.bin

    const second = await start(root);
    await until("the start-up sweep to remove the temp file", async () => (tempFiles(root).length === 0 ? true : undefined), 10_000, 50);
    const again = fileClients(second.url);
    const stat = await again.grpc.stat({ container, path: "/log.bin" });
    expect(stat.entry?.size).toBe(BigInt(after.length));
    await uploadAll(again.grpc, container, "/log.bin", more.subarray(landed), { overwrite: OverwritePolicy.APPEND, offset: stat.entry!.size });
    expect(sha256(readFileSync(join(root, "log.bin")))).toBe(sha256(Buffer.concat([base, more])));
    await second.stop();
  }, 90_000);

  it("the start-up sweep of `serve --root` removes temp files in subdirectories and leaves everything else", async () => {
    const root = newRoot();
    mkdirSync(join(root, "a/b/c"), { recursive: true });
    const stale = [".x.podfiles-0123456789ab.part", "a/.y.txt.podfiles-aaaaaaaaaaaa.part", "a/b/c/..podfiles-bbbbbbbbbbbb.part"];
    const keep = ["keep.txt", "a/.y.txt", "a/b/.z.podfiles-0123.part", "a/b/podfiles-0123456789ab.part", "a/b/c/.x.podfiles-0123456789ab.partial"];
    for (const n of [...stale, ...keep]) writeFileSync(join(root, n), "x");
    const s = await start(root);
    await until("the start-up sweep", async () => (tempFiles(root).length === 0 ? true : undefined), 10_000, 50);
    const left = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((n) => !statSync(join(root, n)).isDirectory());
    expect(left.sort()).toEqual([...keep].sort());
    await s.stop();
  }, 30_000);
});

describe("--allow-setid", () => {
  it("keeps setuid/setgid bits only when the server is started with it", async () => {
    const root = newRoot();
    const strict = await start(root);
    await uploadAll(fileClients(strict.url).grpc, container, "/strict", Buffer.from("x"), { mode: 0o6755 });
    expect(statSync(join(root, "strict")).mode & 0o7777).toBe(0o755);
    await strict.stop();
    const allowing = await start(root, ["--allow-setid"]);
    await uploadAll(fileClients(allowing.url).grpc, container, "/allowed", Buffer.from("x"), { mode: 0o6755 });
    expect(statSync(join(root, "allowed")).mode & 0o7777).toBe(0o6755);
    await allowing.stop();
  }, 30_000);
});
