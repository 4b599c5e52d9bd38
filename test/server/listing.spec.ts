// ListFiles, Stat, MakeDirectory, Remove and Rename against a real server.
import { chmodSync, mkdirSync, readdirSync, existsSync, symlinkSync, writeFileSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileType } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { listNames } from "../support/files.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
  const r = server.root;
  mkdirSync(join(r, "etc"));
  writeFileSync(join(r, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:4242:4343::/home/app:/bin/sh\n");
  writeFileSync(join(r, "etc/group"), "root:x:0:\napps:x:4343:\n");
  mkdirSync(join(r, "d/e/f"), { recursive: true });
  writeFileSync(join(r, "d/one.txt"), "1");
  writeFileSync(join(r, "d/.hidden"), "h");
  writeFileSync(join(r, "d/e/two.txt"), "22");
  writeFileSync(join(r, "d/e/f/three.txt"), "333");
  symlinkSync("e", join(r, "d/elink"));
  chmodSync(join(r, "d/one.txt"), 0o4750);
});
afterAll(() => server.close());

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => -1,
    (e) => ConnectError.from(e).code,
  );

describe("ListFiles", () => {
  const c = () => server.container;
  it("lists one level, hiding dot files unless asked", async () => {
    expect(await listNames(server.clients.grpc, c(), "/d")).toEqual(["/d/e", "/d/elink", "/d/one.txt"]);
    expect(await listNames(server.clients.grpc, c(), "/d", { includeHidden: true })).toEqual(["/d/.hidden", "/d/e", "/d/elink", "/d/one.txt"]);
  });

  it("recurses with a depth limit and never follows directory symlinks", async () => {
    expect(await listNames(server.clients.connectJson, c(), "/d", { recursive: true })).toEqual([
      "/d/e",
      "/d/e/f",
      "/d/e/f/three.txt",
      "/d/e/two.txt",
      "/d/elink",
      "/d/one.txt",
    ]);
    expect(await listNames(server.clients.grpc, c(), "/d", { recursive: true, maxDepth: 2 })).toEqual([
      "/d/e",
      "/d/e/f",
      "/d/e/two.txt",
      "/d/elink",
      "/d/one.txt",
    ]);
  });

  it("describes entries like ls -l, with names from the container's /etc/passwd and /etc/group", async () => {
    const all = [];
    for await (const b of server.clients.grpc.listFiles({ container: c(), path: "/d" })) all.push(...b.entries);
    const one = all.find((e) => e.name === "one.txt")!;
    expect(one.type).toBe(FileType.REGULAR);
    expect(one.modeText).toBe("-rwsr-x---");
    expect(one.size).toBe(1n);
    expect(one.modifyTime).toBeDefined();
    const link = all.find((e) => e.name === "elink")!;
    expect(link.type).toBe(FileType.SYMLINK);
    expect(link.symlinkTarget).toBe("e");
    expect(link.modeText.startsWith("l")).toBe(true);
    if (process.getuid?.() === 0) {
      const { chownSync } = await import("node:fs");
      chownSync(join(server.root, "d/one.txt"), 4242, 4343);
      const st = await server.clients.grpc.stat({ container: c(), path: "/d/one.txt" });
      expect([st.entry?.uid, st.entry?.user, st.entry?.gid, st.entry?.group]).toEqual([4242, "app", 4343, "apps"]);
    }
  });

  it("streams a large directory in pages without holding it", async () => {
    const dir = join(server.root, "many");
    mkdirSync(dir);
    for (let i = 0; i < 5000; i++) writeFileSync(join(dir, `f${i}`), "");
    const sizes: number[] = [];
    for await (const b of server.clients.grpc.listFiles({ container: c(), path: "/many", pageSize: 700 })) sizes.push(b.entries.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(5000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(700);
    expect(sizes.length).toBeGreaterThanOrEqual(8);
  });

  it("errors: a file is not a directory, missing is NOT_FOUND, page size is bounded, the container must exist", async () => {
    expect(await codeOf(listNames(server.clients.grpc, c(), "/d/one.txt"))).toBe(Code.FailedPrecondition);
    expect(await codeOf(listNames(server.clients.grpc, c(), "/nope"))).toBe(Code.NotFound);
    expect(await codeOf(listNames(server.clients.grpc, c(), "/d", { pageSize: 100_000 }))).toBe(Code.InvalidArgument);
    expect(await codeOf(listNames(server.clients.grpc, { ...c(), pod: "other" }, "/"))).toBe(Code.NotFound);
    expect(await codeOf(listNames(server.clients.grpc, { namespace: "", pod: "", container: "" }, "/"))).toBe(Code.InvalidArgument);
    expect(await codeOf(listNames(server.clients.grpc, c(), ""))).toBe(Code.InvalidArgument);
    // empty container name = the default container
    expect(await listNames(server.clients.grpc, { ...c(), container: "" }, "/d")).toContain("/d/one.txt");
  });
});

describe("Stat", () => {
  it("follows the final symlink only when asked", async () => {
    const c = server.container;
    const noFollow = await server.clients.grpc.stat({ container: c, path: "/d/elink" });
    expect(noFollow.entry?.type).toBe(FileType.SYMLINK);
    const follow = await server.clients.grpc.stat({ container: c, path: "/d/elink", followSymlinks: true });
    expect(follow.entry?.type).toBe(FileType.DIRECTORY);
    expect(follow.entry?.path).toBe("/d/elink");
    const root = await server.clients.grpc.stat({ container: c, path: "/" });
    expect(root.entry?.name).toBe("/");
  });
});

describe("MakeDirectory, Remove, Rename", () => {
  const c = () => server.container;
  const g = () => server.clients.grpc;
  it("mkdir with and without parents, with a mode", async () => {
    expect(await codeOf(g().makeDirectory({ container: c(), path: "/m1/m2" }))).toBe(Code.NotFound);
    const made = await g().makeDirectory({ container: c(), path: "/m1/m2", parents: true, mode: 0o700 });
    expect(made.entry?.type).toBe(FileType.DIRECTORY);
    expect(lstatSync(join(server.root, "m1/m2")).mode & 0o777).toBe(0o700);
    expect(await codeOf(g().makeDirectory({ container: c(), path: "/m1" }))).toBe(Code.AlreadyExists);
    await g().makeDirectory({ container: c(), path: "/m1", parents: true }); // -p: existing is fine
    expect(await codeOf(g().makeDirectory({ container: c(), path: "/d/one.txt/x", parents: true }))).not.toBe(-1);
  });

  it("remove is recursive only when asked", async () => {
    mkdirSync(join(server.root, "r/s"), { recursive: true });
    writeFileSync(join(server.root, "r/s/f"), "f");
    expect(await codeOf(g().remove({ container: c(), path: "/r" }))).toBe(Code.FailedPrecondition);
    expect(existsSync(join(server.root, "r/s/f"))).toBe(true);
    await g().remove({ container: c(), path: "/r", recursive: true });
    expect(existsSync(join(server.root, "r"))).toBe(false);
    expect(await codeOf(g().remove({ container: c(), path: "/r" }))).toBe(Code.NotFound);
    expect(await codeOf(g().remove({ container: c(), path: "/", recursive: true }))).toBe(Code.InvalidArgument);
    expect(readdirSync(server.root).length).toBeGreaterThan(0);
  });

  it("rename never overwrites unless asked", async () => {
    writeFileSync(join(server.root, "a.txt"), "a");
    writeFileSync(join(server.root, "b.txt"), "b");
    expect(await codeOf(g().rename({ container: c(), path: "/a.txt", newPath: "/b.txt" }))).toBe(Code.AlreadyExists);
    const moved = await g().rename({ container: c(), path: "/a.txt", newPath: "/b.txt", overwrite: true });
    expect(moved.entry?.path).toBe("/b.txt");
    expect(existsSync(join(server.root, "a.txt"))).toBe(false);
    expect(await codeOf(g().rename({ container: c(), path: "/missing", newPath: "/x" }))).toBe(Code.NotFound);
    expect(await codeOf(g().rename({ container: c(), path: "/b.txt", newPath: "" }))).toBe(Code.InvalidArgument);
  });
});
