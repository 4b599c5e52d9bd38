// The podfiles client commands, run as child processes against a real server.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { cliEnv, ensureBuilt, runCli, spawnCli } from "./run-cli.js";

const R = "local/local:"; // the test server's container, namespace/pod form
const sha = (b: Buffer | Uint8Array) => createHash("sha256").update(b).digest("hex");
const shaFile = (p: string) => sha(fs.readFileSync(p));
const MiB = 1024 * 1024;

let server: TestServer;
let env: NodeJS.ProcessEnv;
let work: string;
const cli = (...args: string[]) => runCli(args, { env, cwd: work });

beforeAll(async () => {
  ensureBuilt();
  server = await startTestServer();
  env = cliEnv(server.url);
  work = fs.mkdtempSync(join(tmpdir(), "podfiles-cli-"));
  const root = server.root;
  fs.writeFileSync(join(root, "hello.txt"), "hello");
  fs.writeFileSync(join(root, ".hidden"), "h");
  fs.mkdirSync(join(root, "sub/deep"), { recursive: true });
  fs.writeFileSync(join(root, "sub/a.txt"), "aaa");
  fs.writeFileSync(join(root, "sub/deep/b.txt"), "bbbb");
  fs.symlinkSync("hello.txt", join(root, "link"));
});

afterAll(async () => {
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("ls", () => {
  it("lists names sorted, hidden ones only with -a", async () => {
    const r = await cli("ls", `${R}/`);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(r.stdout.trim().split("\n")).toEqual(["hello.txt", "link", "sub"]);
    const all = await cli("ls", "-a", `${R}/`);
    expect(all.stdout.trim().split("\n")).toEqual([".hidden", "hello.txt", "link", "sub"]);
  });

  it("-l prints mode, links, user, group, size, mtime and name -> target, aligned", async () => {
    const r = await cli("ls", "-l", `${R}/`);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    const time = String.raw`[A-Z][a-z]{2} [ \d]\d (?:\d\d:\d\d| \d{4})`;
    expect(lines[0]).toMatch(new RegExp(String.raw`^-rw-r--r-- +1 \S+ +\S+ +5 ${time} hello\.txt$`));
    expect(lines[1]).toMatch(new RegExp(String.raw`^lrwxrwxrwx +1 \S+ +\S+ +9 ${time} link -> hello\.txt$`));
    expect(lines[2]).toMatch(new RegExp(String.raw`^drwxr-xr-x +\d+ \S+ +\S+ +\d+ ${time} sub$`));
    // columns line up: the names start at the same offset
    const starts = lines.map((l) => l.search(/ (hello\.txt|link|sub)( |$)/));
    expect(new Set(starts).size).toBe(1);
  });

  it("-R lists the tree with paths relative to the directory", async () => {
    const r = await cli("ls", "-R", `${R}/sub`);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n").sort()).toEqual(["a.txt", "deep", "deep/b.txt"]);
    const depth = await cli("ls", "-R", "--max-depth", "2", `${R}/`);
    expect(depth.stdout).toContain("sub/a.txt");
    expect(depth.stdout).not.toContain("deep/b.txt");
  });

  it("--json prints an array of entries", async () => {
    const r = await cli("ls", "--json", `${R}/`);
    const entries = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    const byName = Object.fromEntries(entries.map((e) => [e.name, e]));
    expect(byName["hello.txt"]).toMatchObject({ path: "/hello.txt", type: "regular", size: 5, mode: "0644", modeText: "-rw-r--r--" });
    expect(byName.link).toMatchObject({ type: "symlink", symlinkTarget: "hello.txt" });
    expect(byName.sub).toMatchObject({ type: "directory" });
    expect(typeof byName["hello.txt"]!.mtime).toBe("string");
  });

  it("a file lists as itself; the container's default container works (ns/pod) as does ns/pod/container", async () => {
    const r = await cli("ls", "-l", "local/local/local:/hello.txt");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ \/hello\.txt\n$/);
    const n = await cli("ls", "-n", "local", "local:/sub");
    expect(n.stdout.trim().split("\n")).toEqual(["a.txt", "deep"]);
  });
});

describe("stat", () => {
  it("prints type, size, mode and owner; -L follows a symlink; --json", async () => {
    const r = await cli("stat", `${R}/hello.txt`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("File: /hello.txt");
    expect(r.stdout).toContain("Type: regular");
    expect(r.stdout).toContain("Size: 5");
    expect(r.stdout).toMatch(/Access: \(0644\/-rw-r--r--\)/);
    const link = JSON.parse((await cli("stat", "--json", `${R}/link`)).stdout);
    expect(link).toMatchObject({ type: "symlink", symlinkTarget: "hello.txt" });
    const followed = JSON.parse((await cli("stat", "--json", "-L", `${R}/link`)).stdout);
    expect(followed).toMatchObject({ type: "regular", size: 5 });
  });
});

describe("put and get", () => {
  it("round-trips a 20 MiB random file, checked by SHA-256, atomically", async () => {
    const data = randomBytes(20 * MiB);
    const local = join(work, "random.bin");
    fs.writeFileSync(local, data);
    const up = await cli("put", "-v", local, `${R}/up/random.bin`, "-p");
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(up.stdout).toContain(`sha256 ${sha(data)}`);
    expect(shaFile(join(server.root, "up/random.bin"))).toBe(sha(data));

    const back = join(work, "random.back");
    const down = await cli("get", `${R}/up/random.bin`, back);
    expect(down).toMatchObject({ code: 0, stderr: "" });
    expect(shaFile(back)).toBe(sha(data));
    expect(fs.existsSync(`${back}.part`)).toBe(false);

    // into an existing local directory: the remote name
    fs.mkdirSync(join(work, "into"));
    expect((await cli("get", `${R}/up/random.bin`, join(work, "into"))).code).toBe(0);
    expect(shaFile(join(work, "into/random.bin"))).toBe(sha(data));
  });

  it("never replaces a file unless -f; a directory target (or trailing /) takes the local name; --mode", async () => {
    const local = join(work, "small.txt");
    fs.writeFileSync(local, "one");
    expect((await cli("put", local, `${R}/small.txt`)).code).toBe(0);
    fs.writeFileSync(local, "two");
    const again = await cli("put", local, `${R}/small.txt`);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^podfiles: ALREADY_EXISTS: \/small\.txt: .*\n$/);
    expect(fs.readFileSync(join(server.root, "small.txt"), "utf8")).toBe("one");
    expect((await cli("put", "-f", "--mode", "0600", local, `${R}/small.txt`)).code).toBe(0);
    expect(fs.readFileSync(join(server.root, "small.txt"), "utf8")).toBe("two");
    expect(fs.statSync(join(server.root, "small.txt")).mode & 0o777).toBe(0o600);

    expect((await cli("put", local, `${R}/sub`)).code).toBe(0);
    expect(fs.readFileSync(join(server.root, "sub/small.txt"), "utf8")).toBe("two");
    expect((await cli("put", local, `${R}/sub/deep/`)).code).toBe(0);
    expect(fs.existsSync(join(server.root, "sub/deep/small.txt"))).toBe(true);
  });

  it("without -p a missing parent is NOT_FOUND with a hint", async () => {
    const local = join(work, "p.txt");
    fs.writeFileSync(local, "p");
    const r = await cli("put", local, `${R}/no/such/dir/p.txt`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^podfiles: NOT_FOUND: .*-p creates it\)\n$/);
  });

  it("a killed upload leaves nothing behind (expected size and SHA-256 are always sent)", async () => {
    const local = join(work, "killed.bin");
    fs.writeFileSync(local, randomBytes(96 * MiB));
    fs.mkdirSync(join(server.root, "killed"));
    const child = spawnCli(["put", local, `${R}/killed/killed.bin`], { env, cwd: work });
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    // kill as soon as the server has opened its temp file (the data is still streaming)
    for (let i = 0; i < 2000 && fs.readdirSync(join(server.root, "killed")).length === 0; i++) await new Promise((r) => setTimeout(r, 2));
    child.kill("SIGKILL");
    await exited;
    for (let i = 0; i < 200 && fs.readdirSync(join(server.root, "killed")).length > 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(fs.readdirSync(join(server.root, "killed"))).toEqual([]);
  });

  it("get --resume continues a partial .part file from its size", async () => {
    const data = randomBytes(12 * MiB + 321);
    fs.writeFileSync(join(server.root, "resume.bin"), data);
    const local = join(work, "resume.bin");
    const have = 7 * MiB + 123;
    fs.writeFileSync(`${local}.part`, data.subarray(0, have));
    const r = await cli("get", "-v", "--resume", `${R}/resume.bin`, local);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`resumed at ${have}`);
    expect(shaFile(local)).toBe(sha(data));
    expect(fs.existsSync(`${local}.part`)).toBe(false);
  });

  it("get --resume continues a partial LOCAL file (from any tool) and leaves it intact until done", async () => {
    const data = randomBytes(3 * MiB);
    fs.writeFileSync(join(server.root, "resume2.bin"), data);
    const local = join(work, "resume2.bin");
    fs.writeFileSync(local, data.subarray(0, MiB));
    const r = await cli("get", "-v", "--resume", `${R}/resume2.bin`, local);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`resumed at ${MiB}`);
    expect(shaFile(local)).toBe(sha(data));
  });

  it("get --resume refuses a partial file whose tail no longer matches the remote file", async () => {
    const data = randomBytes(2 * MiB);
    fs.writeFileSync(join(server.root, "changed.bin"), data);
    const local = join(work, "changed.bin");
    const partial = Buffer.from(data.subarray(0, MiB));
    partial[MiB - 10] ^= 0xff;
    fs.writeFileSync(`${local}.part`, partial);
    const r = await cli("get", "--resume", `${R}/changed.bin`, local);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^podfiles: FAILED_PRECONDITION: \/changed\.bin changed since .* without --resume\n$/);
    expect(fs.existsSync(local)).toBe(false);
  });

  it("get --resume starts over when the partial file is larger than the remote one", async () => {
    fs.writeFileSync(join(server.root, "shrunk.txt"), "short");
    const local = join(work, "shrunk.txt");
    fs.writeFileSync(`${local}.part`, "much longer than the remote file");
    const r = await cli("get", "--resume", `${R}/shrunk.txt`, local);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/downloading it again from the start/);
    expect(fs.readFileSync(local, "utf8")).toBe("short");
  });

  it("get - writes the bytes to stdout", async () => {
    const r = await cli("get", `${R}/hello.txt`, "-");
    expect(r).toMatchObject({ code: 0, stdout: "hello" });
  });

  it("a directory goes up as tar and comes back as tar, with modes and symlinks", async () => {
    const src = join(work, "tree");
    fs.mkdirSync(join(src, "bin"), { recursive: true });
    fs.mkdirSync(join(src, "empty"));
    fs.writeFileSync(join(src, "bin/run.sh"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
    fs.writeFileSync(join(src, "data.bin"), randomBytes(3 * MiB + 7));
    fs.symlinkSync("data.bin", join(src, "data.link"));

    const up = await cli("put", "-v", "-p", src, `${R}/trees/one`);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/\(5 entries\)/);
    const remote = join(server.root, "trees/one");
    expect(shaFile(join(remote, "data.bin"))).toBe(shaFile(join(src, "data.bin")));
    expect(fs.statSync(join(remote, "bin/run.sh")).mode & 0o777).toBe(0o755);
    expect(fs.readlinkSync(join(remote, "data.link"))).toBe("data.bin");
    expect(fs.statSync(join(remote, "empty")).isDirectory()).toBe(true);

    const dest = join(work, "tree-back");
    const down = await cli("get", `${R}/trees/one`, dest);
    expect(down).toMatchObject({ code: 0, stderr: "" });
    expect(shaFile(join(dest, "data.bin"))).toBe(shaFile(join(src, "data.bin")));
    expect(fs.readFileSync(join(dest, "bin/run.sh"), "utf8")).toBe("#!/bin/sh\necho hi\n");
    expect(fs.statSync(join(dest, "bin/run.sh")).mode & 0o777).toBe(0o755);
    expect(fs.readlinkSync(join(dest, "data.link"))).toBe("data.bin");
    expect(fs.statSync(join(dest, "empty")).isDirectory()).toBe(true);

    // a directory put again without -f refuses the existing files (a small tree: see the note below)
    const small = join(work, "small-tree");
    fs.mkdirSync(small);
    fs.writeFileSync(join(small, "a.txt"), "a");
    expect((await cli("put", small, `${R}/trees/two`)).code).toBe(0);
    const again = await cli("put", small, `${R}/trees/two`);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^podfiles: ALREADY_EXISTS: \/trees\/two\/a\.txt/);
    // Note: a refused tar upload with more data still to come after the refused entry
    // currently hangs in the server (src/fs/root/tar-extract.ts feed() waits for 'drain'
    // on a destroyed extractor); not asserted here until that is fixed.
  });
});

describe("mv, rm, mkdir", () => {
  it("mv renames within the container and keeps an existing target unless -f", async () => {
    fs.writeFileSync(join(server.root, "mv-a.txt"), "a");
    fs.writeFileSync(join(server.root, "mv-b.txt"), "b");
    expect((await cli("mv", `${R}/mv-a.txt`, "/mv-c.txt")).code).toBe(0);
    expect(fs.readFileSync(join(server.root, "mv-c.txt"), "utf8")).toBe("a");
    expect(fs.existsSync(join(server.root, "mv-a.txt"))).toBe(false);
    const clash = await cli("mv", `${R}/mv-c.txt`, `${R}/mv-b.txt`);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/^podfiles: ALREADY_EXISTS: /);
    expect((await cli("mv", "-f", `${R}/mv-c.txt`, `${R}/mv-b.txt`)).code).toBe(0);
    expect(fs.readFileSync(join(server.root, "mv-b.txt"), "utf8")).toBe("a");
    const other = await cli("mv", `${R}/mv-b.txt`, "other/pod:/x");
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/mv moves within one container/);
  });

  it("mkdir -p makes parents; without it a missing parent fails; --mode", async () => {
    expect((await cli("mkdir", "-p", `${R}/m/a/b/c`)).code).toBe(0);
    expect(fs.statSync(join(server.root, "m/a/b/c")).isDirectory()).toBe(true);
    expect((await cli("mkdir", "-p", `${R}/m/a/b/c`)).code).toBe(0);
    const exists = await cli("mkdir", `${R}/m/a`);
    expect(exists.code).toBe(1);
    expect(exists.stderr).toMatch(/^podfiles: ALREADY_EXISTS: /);
    const missing = await cli("mkdir", `${R}/m/x/y`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^podfiles: NOT_FOUND: /);
    expect((await cli("mkdir", "--mode", "0700", `${R}/m/private`)).code).toBe(0);
    expect(fs.statSync(join(server.root, "m/private")).mode & 0o777).toBe(0o700);
  });

  it("rm removes files; a directory only with -r; -f ignores missing paths", async () => {
    fs.mkdirSync(join(server.root, "rm/d/e"), { recursive: true });
    fs.writeFileSync(join(server.root, "rm/d/e/f.txt"), "f");
    fs.writeFileSync(join(server.root, "rm/g.txt"), "g");
    expect((await cli("rm", `${R}/rm/g.txt`)).code).toBe(0);
    expect(fs.existsSync(join(server.root, "rm/g.txt"))).toBe(false);
    const notEmpty = await cli("rm", `${R}/rm/d`);
    expect(notEmpty.code).toBe(1);
    expect(notEmpty.stderr).toMatch(/^podfiles: FAILED_PRECONDITION: .*not empty/);
    expect((await cli("rm", "-r", `${R}/rm/d`)).code).toBe(0);
    expect(fs.existsSync(join(server.root, "rm/d"))).toBe(false);
    const gone = await cli("rm", `${R}/rm/nope`);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^podfiles: NOT_FOUND: /);
    expect((await cli("rm", "-f", `${R}/rm/nope`)).code).toBe(0);
    const root = await cli("rm", "-r", `${R}/`);
    expect(root.code).toBe(2);
  });
});

describe("errors: one line, non-zero exit", () => {
  it("a missing path is NOT_FOUND, exit 1", async () => {
    for (const args of [
      ["ls", `${R}/missing`],
      ["stat", `${R}/missing`],
      ["get", `${R}/missing`, join(work, "m")],
    ]) {
      const r = await cli(...args);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^podfiles: NOT_FOUND: \/missing: .*\n$/);
    }
    expect(fs.existsSync(join(work, "m"))).toBe(false);
    expect(fs.existsSync(join(work, "m.part"))).toBe(false);
  });

  it("an unknown container is NOT_FOUND", async () => {
    const r = await cli("ls", "other/pod:/");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^podfiles: NOT_FOUND: container other\/pod.* not found/);
  });

  it("bad remote syntax is a usage error, exit 2, before any call", async () => {
    for (const bad of ["no-colon", "a/b/c/d:/x", "Bad:/x", ":/x"]) {
      const r = await cli("ls", bad);
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
      expect(r.stderr).toMatch(/^podfiles: /);
    }
    const local = await cli("put", join(work, "nope.txt"), `${R}/x`);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/no such local file/);
  });

  it("an unreachable server is UNAVAILABLE", async () => {
    const r = await runCli(["ls", "--server", "http://127.0.0.1:1", `${R}/`], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^podfiles: UNAVAILABLE: cannot reach the server/);
  });
});

describe("--token / PODFILES_TOKEN", () => {
  it("sends Authorization: Bearer", async () => {
    const seen: (string | null)[] = [];
    const authed = await startTestServer({
      interceptors: [
        (next) => async (req) => {
          const auth = req.header.get("authorization");
          seen.push(auth);
          if (auth !== "Bearer s3cret") throw new ConnectError("bad token", Code.Unauthenticated);
          return next(req);
        },
      ],
    });
    try {
      const e = cliEnv(authed.url);
      const none = await runCli(["ls", `${R}/`], { env: e });
      expect(none.code).toBe(1);
      expect(none.stderr).toBe("podfiles: UNAUTHENTICATED: bad token\n");
      expect((await runCli(["ls", "--token", "s3cret", `${R}/`], { env: e })).code).toBe(0);
      expect((await runCli(["ls", `${R}/`], { env: { ...e, PODFILES_TOKEN: "s3cret" } })).code).toBe(0);
      expect(seen[0]).toBeNull(); // ls stats first, and stops at the refusal
      expect(seen.slice(1)).toEqual(Array(seen.length - 1).fill("Bearer s3cret"));
      expect(seen.length).toBeGreaterThanOrEqual(3);
    } finally {
      await authed.close();
    }
  });
});
