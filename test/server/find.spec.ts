// Find against a real server on a temp dir: filters, odd names, symlink loops, a FIFO, a deep
// tree, digests, bad input, and confinement (a symlink to / never walks the host).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as zlib from "node:zlib";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DigestAlgorithm, FileType, type FindMatch, type FindRequest } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let outside: string;
beforeAll(async () => {
  // the container root sits inside a host dir that holds a marker no Find may ever reach
  outside = mkdtempSync(join(tmpdir(), "podfiles-find-host-"));
  writeFileSync(join(outside, "HOST-MARKER.log"), "host");
  const root = join(outside, "root");
  mkdirSync(root);
  server = await startTestServer({ root });
  const t = join(root, "t");
  mkdirSync(join(t, "sub/deep"), { recursive: true });
  writeFileSync(join(t, "a.log"), "aaaa");
  writeFileSync(join(t, "b.txt"), "b".repeat(5000));
  writeFileSync(join(t, ".hidden.log"), "h");
  writeFileSync(join(t, "sub/deep/x.log"), "xx");
  writeFileSync(join(t, "sp ace.log"), "s");
  writeFileSync(join(t, "new\nline.log"), "n");
  writeFileSync(Buffer.concat([Buffer.from(join(t, "bad-")), Buffer.from([0xff]), Buffer.from(".log")]), "z");
  symlinkSync(".", join(t, "loop"));
  symlinkSync("l2", join(t, "l1"));
  symlinkSync("l1", join(t, "l2"));
  symlinkSync("/", join(t, "to-root"));
  symlinkSync("../../..", join(t, "up"));
  execFileSync("mkfifo", [join(t, "pipe")]);
  utimesSync(join(t, "a.log"), 1_000_000, 1_000_000); // 1970-01-12
  let deep = join(root, "deep");
  for (let i = 0; i < 300; i++) deep = join(deep, "d");
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, "bottom.log"), "b");
});
afterAll(async () => {
  await server.close();
  rmSync(outside, { recursive: true, force: true });
});

async function find(req: Omit<Partial<FindRequest>, "$typeName" | "$unknown">): Promise<FindMatch[]> {
  const out: FindMatch[] = [];
  for await (const res of server.clients.grpc.find({ container: server.container, path: "/t", ...req })) out.push(...res.matches);
  return out;
}
const paths = (ms: FindMatch[]) => ms.map((m) => m.entry!.path).sort();
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e) => Code[ConnectError.from(e).code],
  );

describe("Find", () => {
  it("matches a glob on the base name, dot files and odd names included, never following links", async () => {
    expect(paths(await find({ nameGlob: "*.log" }))).toEqual([
      "/t/.hidden.log",
      "/t/a.log",
      "/t/bad-\\xff.log",
      "/t/new\nline.log",
      "/t/sp ace.log",
      "/t/sub/deep/x.log",
    ]);
  });

  it("filters on regex, type, size, mtime and depth, and stops at the limit", async () => {
    expect(paths(await find({ pathRegex: "^sub/.*\\.log$" }))).toEqual(["/t/sub/deep/x.log"]);
    expect(paths(await find({ types: [FileType.SYMLINK] }))).toEqual(["/t/l1", "/t/l2", "/t/loop", "/t/to-root", "/t/up"]);
    expect(paths(await find({ types: [FileType.FIFO] }))).toEqual(["/t/pipe"]);
    expect(paths(await find({ types: [FileType.REGULAR], minSize: 1000n }))).toEqual(["/t/b.txt"]);
    expect(paths(await find({ types: [FileType.REGULAR], maxSize: 1n }))).toEqual(["/t/.hidden.log", "/t/bad-\\xff.log", "/t/new\nline.log", "/t/sp ace.log"]);
    expect(paths(await find({ modifiedBefore: timestampFromMs(2_000_000_000) }))).toEqual(["/t/a.log"]);
    expect(paths(await find({ nameGlob: "*.log", modifiedAfter: timestampFromMs(2_000_000_000) }))).not.toContain("/t/a.log");
    expect(paths(await find({ maxDepth: 1, types: [FileType.DIRECTORY] }))).toEqual(["/t/sub"]);
    expect(paths(await find({ maxDepth: 2, types: [FileType.DIRECTORY] }))).toEqual(["/t/sub", "/t/sub/deep"]);
    expect(await find({ limit: 3 })).toHaveLength(3);
  });

  it("walks a 300-level tree", async () => {
    const found = await find({ path: "/deep", nameGlob: "bottom.log" });
    expect(found).toHaveLength(1);
    expect(found[0]!.entry!.path.split("/")).toHaveLength(303);
  });

  it("computes SHA-256 or CRC-32 of matching regular files, and never opens the FIFO", async () => {
    const sha = await find({ digestAlgorithm: DigestAlgorithm.SHA256, maxDepth: 1 });
    const byPath = new Map(sha.map((m) => [m.entry!.path, Buffer.from(m.digest).toString("hex")]));
    expect(byPath.get("/t/b.txt")).toBe(createHash("sha256").update("b".repeat(5000)).digest("hex"));
    expect(byPath.get("/t/pipe")).toBe(""); // listed, never opened (an open for reading would hang the walk)
    expect(byPath.get("/t/sub")).toBe("");
    const crc = await find({ digestAlgorithm: DigestAlgorithm.CRC32, nameGlob: "a.log" });
    const want = Buffer.alloc(4);
    want.writeUInt32BE(zlib.crc32("aaaa"));
    expect(Buffer.from(crc[0]!.digest).toString("hex")).toBe(want.toString("hex"));
    expect((await find({ digestAlgorithm: DigestAlgorithm.NONE, nameGlob: "a.log" }))[0]!.digest).toHaveLength(0);
  });

  it("stays in the container: a symlink to / and ../.. below the top are not followed; / as the top is the container's", async () => {
    const all = paths(await find({}));
    expect(all.every((p) => p.startsWith("/t/"))).toBe(true);
    expect(all.some((p) => p.includes("HOST-MARKER"))).toBe(false);
    // the top itself through the link: resolved inside the root (the container's /), not the host's
    const viaLink = paths(await find({ path: "/t/to-root", nameGlob: "HOST-MARKER*" }));
    expect(viaLink).toEqual([]);
    // a top that is a symlink climbing past / ("../../..") stops at the container's /
    const fromUp = paths(await find({ path: "/t/up", maxDepth: 1 }));
    expect(fromUp).toEqual(["/t/up/deep", "/t/up/t"]);
  });

  it("refuses bad input with INVALID_ARGUMENT and a message", async () => {
    await expect(find({ pathRegex: "(" })).rejects.toThrow(/path_regex/);
    expect(await codeOf(find({ pathRegex: "(" }))).toBe("InvalidArgument");
    expect(await codeOf(find({ pathRegex: "(a)\\1" }))).toBe("InvalidArgument");
    expect(await codeOf(find({ pathRegex: "x".repeat(5000) }))).toBe("InvalidArgument");
    expect(await codeOf(find({ nameGlob: "[z-a]" }))).toBe("InvalidArgument");
    expect(await codeOf(find({ minSize: 10n, maxSize: 1n }))).toBe("InvalidArgument");
    expect(await codeOf(find({ path: "/t/a.log" }))).toBe("FailedPrecondition");
    expect(await codeOf(find({ path: "/nope" }))).toBe("NotFound");
  });

  it("answers a catastrophic regex quickly", async () => {
    const started = Date.now();
    await find({ path: "/deep", pathRegex: "^(d+/?)+$x" });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it("works over every protocol", async () => {
    for (const client of [server.clients.connectJson, server.clients.grpcWeb]) {
      const out: string[] = [];
      for await (const res of client.find({ container: server.container, path: "/t", nameGlob: "x.log" })) out.push(...res.matches.map((m) => m.entry!.path));
      expect(out).toEqual(["/t/sub/deep/x.log"]);
    }
  });
});
