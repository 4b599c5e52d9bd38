// DiskUsage against a real server on a temp dir, with du(1) as the oracle: per-directory totals
// (allocated and apparent), children before parents, max depth, hard links once, symlinks and a
// FIFO counted as themselves, a symlink to / never walked.
import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DiskUsageEntry, DiskUsageRequest } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let outside: string;
let root: string;
beforeAll(async () => {
  outside = mkdtempSync(join(tmpdir(), "podfiles-du-host-"));
  writeFileSync(join(outside, "host-big"), Buffer.alloc(4 << 20, 1)); // would show in the totals if the walk escaped
  root = join(outside, "root");
  mkdirSync(root);
  server = await startTestServer({ root });
  const t = join(root, "t");
  mkdirSync(join(t, "a/b/c"), { recursive: true });
  mkdirSync(join(t, "empty"));
  mkdirSync(join(t, "odd name\n"));
  writeFileSync(join(t, "one"), Buffer.alloc(10_000, 1));
  writeFileSync(join(t, "a/two"), Buffer.alloc(70_000, 2));
  writeFileSync(join(t, "a/b/c/three"), Buffer.alloc(123, 3));
  writeFileSync(join(t, "odd name\n/f"), "x");
  writeFileSync(join(t, "a/linked"), Buffer.alloc(200_000, 4));
  linkSync(join(t, "a/linked"), join(t, "a/linked-again"));
  symlinkSync("/", join(t, "to-root"));
  symlinkSync(".", join(t, "loop"));
  execFileSync("mkfifo", [join(t, "pipe")]);
});
afterAll(async () => {
  await server.close();
  rmSync(outside, { recursive: true, force: true });
});

async function du(req: Omit<Partial<DiskUsageRequest>, "$typeName" | "$unknown"> = {}): Promise<DiskUsageEntry[]> {
  const out: DiskUsageEntry[] = [];
  for await (const res of server.clients.grpc.diskUsage({ container: server.container, path: "/t", ...req })) out.push(...res.entries);
  return out;
}

/** du(1)'s totals for the same tree, keyed by container path. */
function oracle(apparent: boolean): Map<string, bigint> {
  const out = execFileSync("du", ["-0", ...(apparent ? ["-b"] : ["-B1"]), join(root, "t")]);
  const map = new Map<string, bigint>();
  for (const rec of out.toString("utf8").split("\0")) {
    if (!rec) continue;
    const tab = rec.indexOf("\t");
    map.set(rec.slice(tab + 1).slice(root.length), BigInt(rec.slice(0, tab)));
  }
  return map;
}

describe("DiskUsage", () => {
  it("gives du's allocated totals per directory, children before their parent, the top last", async () => {
    const got = await du();
    expect(new Map(got.map((e) => [e.path, e.bytes]))).toEqual(oracle(false));
    const order = got.map((e) => e.path);
    expect(order.at(-1)).toBe("/t");
    expect(order.indexOf("/t/a/b/c")).toBeLessThan(order.indexOf("/t/a/b"));
    expect(order.indexOf("/t/a/b")).toBeLessThan(order.indexOf("/t/a"));
  });

  it("gives du --apparent-size totals, a hard-linked file counted once", async () => {
    const got = await du({ apparentSize: true });
    expect(new Map(got.map((e) => [e.path, e.bytes]))).toEqual(oracle(true));
    const a = got.find((e) => e.path === "/t/a")!;
    expect(a.bytes).toBeLessThan(70_000n + 123n + 2n * 200_000n); // the second link adds nothing
  });

  it("counts files and directories below, and depth", async () => {
    const top = (await du()).at(-1)!;
    // files: one, two, three, f, linked, linked-again, to-root, loop, pipe; directories: a, a/b, a/b/c, empty, odd
    expect([top.files, top.directories, top.depth]).toEqual([9n, 5n, 0]);
  });

  it("max_depth limits what is reported, not what is counted", async () => {
    const all = await du();
    const shallow = await du({ maxDepth: 1 });
    expect(shallow.map((e) => e.path).sort()).toEqual(["/t", "/t/a", "/t/empty", "/t/odd name\n"]);
    expect(shallow.at(-1)!.bytes).toBe(all.at(-1)!.bytes);
    expect(shallow.every((e) => e.depth <= 1)).toBe(true);
  });

  it("never walks the host through a symlink to / (its 4 MiB file is not counted)", async () => {
    const top = (await du({ apparentSize: true })).at(-1)!;
    expect(top.bytes).toBeLessThan(1n << 20n);
    // the top given as the link is resolved inside the container: its / is the served root
    const viaLink = (await du({ path: "/t/to-root", apparentSize: true })).at(-1)!;
    expect(viaLink.bytes).toBeLessThan(1n << 20n);
  });

  it("refuses a file as the top, and a missing path", async () => {
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e) => Code[ConnectError.from(e).code],
      );
    expect(await codeOf(du({ path: "/t/one" }))).toBe("FailedPrecondition");
    expect(await codeOf(du({ path: "/t/nope" }))).toBe("NotFound");
  });
});
