// podfiles cp, run as a child process against a real server: local ↔ pod, pod → pod (streamed
// through the CLI while the server has no Copy RPC), files, trees, several sources, wildcards.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { cliEnv, ensureBuilt, repo, runCli } from "./run-cli.js";

const R = "local/local:";
const sha = (b: Buffer | Uint8Array) => createHash("sha256").update(b).digest("hex");
const shaFile = (p: string) => sha(fs.readFileSync(p));
let server: TestServer;
let env: NodeJS.ProcessEnv;
let work: string;
let root: string;
const cli = (...args: string[]) => runCli(args, { env, cwd: work });

beforeAll(async () => {
  ensureBuilt();
  server = await startTestServer();
  root = server.root;
  env = cliEnv(server.url);
  work = fs.mkdtempSync(join(tmpdir(), "podfiles-cp-"));
});
afterAll(async () => {
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("local → pod", () => {
  it("a file into an existing directory keeps its name and mode; replaced only with -f", async () => {
    fs.mkdirSync(join(root, "in"));
    const local = join(work, "run.sh");
    fs.writeFileSync(local, "#!/bin/sh\n", { mode: 0o755 });
    const r = await cli("cp", local, `${R}/in`);
    expect(r).toMatchObject({ code: 0, stderr: "", stdout: "" }); // quiet when piped
    expect(fs.readFileSync(join(root, "in/run.sh"), "utf8")).toBe("#!/bin/sh\n");
    expect(fs.statSync(join(root, "in/run.sh")).mode & 0o777).toBe(0o755);
    fs.writeFileSync(local, "#!/bin/sh\necho 2\n");
    const again = await cli("cp", local, `${R}/in/`);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe("podfiles: ALREADY_EXISTS: /in/run.sh: already exists (use -f to replace it)\n");
    expect((await cli("cp", "-f", local, `${R}/in/run.sh`)).code).toBe(0);
    expect(fs.readFileSync(join(root, "in/run.sh"), "utf8")).toBe("#!/bin/sh\necho 2\n");
  });

  it("several sources go into a directory; into a file or a missing one they are refused", async () => {
    const a = join(work, "a.txt");
    const b = join(work, "b.txt");
    fs.writeFileSync(a, "a");
    fs.writeFileSync(b, "b");
    fs.mkdirSync(join(root, "many"));
    const r = await cli("cp", "-v", a, b, `${R}/many`);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(2);
    expect(fs.readdirSync(join(root, "many")).sort()).toEqual(["a.txt", "b.txt"]);
    const file = await cli("cp", a, b, `${R}/many/a.txt`);
    expect(file.code).toBe(1);
    expect(file.stderr).toMatch(/^podfiles: FAILED_PRECONDITION: .*not a directory \(several sources go into an existing directory\)\n$/);
    const missing = await cli("cp", a, `${R}/nowhere/`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no such directory \(-p creates it\)\n$/);
    expect((await cli("cp", "-p", a, `${R}/nowhere/`)).code).toBe(0);
    expect(fs.readFileSync(join(root, "nowhere/a.txt"), "utf8")).toBe("a");
  });

  it("a directory: a missing DST becomes the copy, an existing one receives it under its name", async () => {
    const tree = join(work, "site");
    fs.mkdirSync(join(tree, "css"), { recursive: true });
    fs.writeFileSync(join(tree, "index.html"), "<h1>hi</h1>");
    fs.writeFileSync(join(tree, "css/app.css"), randomBytes(300_000));
    expect((await cli("cp", tree, `${R}/html`)).code).toBe(0);
    expect(shaFile(join(root, "html/css/app.css"))).toBe(shaFile(join(tree, "css/app.css")));
    expect((await cli("cp", tree, `${R}/html`)).code).toBe(0);
    expect(fs.readFileSync(join(root, "html/site/index.html"), "utf8")).toBe("<h1>hi</h1>");
  });
});

describe("pod → local", () => {
  it("a file, checked; an existing local file only with -f", async () => {
    const data = randomBytes(2 * 1024 * 1024 + 3);
    fs.writeFileSync(join(root, "big.bin"), data);
    const local = join(work, "big.bin");
    expect((await cli("cp", `${R}/big.bin`, local)).code).toBe(0);
    expect(shaFile(local)).toBe(sha(data));
    const again = await cli("cp", `${R}/big.bin`, local);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/the local file exists \(use -f to replace it\)\n$/);
    expect((await cli("cp", "-f", `${R}/big.bin`, local)).code).toBe(0);
  });

  it("a directory, with modes and symlinks", async () => {
    fs.mkdirSync(join(root, "conf/d"), { recursive: true });
    fs.writeFileSync(join(root, "conf/d/x.conf"), "x", { mode: 0o600 });
    fs.symlinkSync("d/x.conf", join(root, "conf/link"));
    const dest = join(work, "conf-copy");
    expect((await cli("cp", `${R}/conf`, dest)).code).toBe(0);
    expect(fs.readFileSync(join(dest, "d/x.conf"), "utf8")).toBe("x");
    expect(fs.statSync(join(dest, "d/x.conf")).mode & 0o777).toBe(0o600);
    expect(fs.readlinkSync(join(dest, "link"))).toBe("d/x.conf");
  });

  it("wildcards are matched on the server's listing of the parent", async () => {
    fs.mkdirSync(join(root, "logs"));
    for (const n of ["a.log", "b.log", "c.txt", ".d.log"]) fs.writeFileSync(join(root, "logs", n), n);
    const dest = join(work, "logs");
    fs.mkdirSync(dest);
    const r = await cli("cp", "-v", `${R}/logs/*.log`, dest);
    expect(r.code).toBe(0);
    expect(fs.readdirSync(dest).sort()).toEqual(["a.log", "b.log"]);
    const dot = await cli("cp", `${R}/logs/.*.log`, dest);
    expect(dot.code).toBe(0);
    expect(fs.existsSync(join(dest, ".d.log"))).toBe(true);
    const none = await cli("cp", `${R}/logs/*.gz`, dest);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe("podfiles: NOT_FOUND: /logs/*.gz: no match in /logs\n");
  });
});

describe("pod → pod", () => {
  it("a file and a tree through the server's Copy RPC (no bytes through the CLI), bytes and modes kept", async () => {
    const data = randomBytes(5 * 1024 * 1024 + 11);
    fs.writeFileSync(join(root, "p2p.bin"), data, { mode: 0o640 });
    const r = await cli("cp", "-v", `${R}/p2p.bin`, "local/local:local:/p2p-copy.bin");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Copy RPC/);
    expect(shaFile(join(root, "p2p-copy.bin"))).toBe(sha(data));
    expect(fs.statSync(join(root, "p2p-copy.bin")).mode & 0o777).toBe(0o640);
    const clash = await cli("cp", `${R}/p2p.bin`, `${R}/p2p-copy.bin`);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/^podfiles: ALREADY_EXISTS: .*\(use -f to replace it\)\n$/);

    fs.mkdirSync(join(root, "tree/sub"), { recursive: true });
    fs.writeFileSync(join(root, "tree/sub/f"), "f");
    const t = await cli("cp", `${R}/tree`, "local/local/local:/tree-copy");
    expect(t).toMatchObject({ code: 0, stderr: "" });
    expect(fs.readFileSync(join(root, "tree-copy/sub/f"), "utf8")).toBe("f");
  });
});

describe("usage", () => {
  it("one path, two local paths and stdin are usage errors (exit 2)", async () => {
    for (const args of [
      ["cp", `${R}/x`],
      ["cp", join(work, "a.txt"), join(work, "z")],
      ["cp", "-", `${R}/x`],
    ]) {
      const r = await cli(...args);
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n").filter(Boolean)).toHaveLength(1);
    }
  });
});

describe("progress", () => {
  it("on a terminal: bytes, total, rate and ETA, for a file and (estimated from the listing) a tree", async () => {
    const data = randomBytes(6 * 1024 * 1024);
    fs.mkdirSync(join(root, "prog"));
    fs.writeFileSync(join(root, "prog/one.bin"), data);
    const out = join(work, "prog-out");
    // util-linux's script(1) gives the CLI a pseudo-terminal for stdout and stderr
    const cmd = `${process.execPath} ${join(repo, "bin/podfiles.js")} cp ${R}/prog/one.bin ${out}.bin && ${process.execPath} ${join(repo, "bin/podfiles.js")} cp ${R}/prog ${out}`;
    const text = await new Promise<string>((resolve) =>
      execFile("script", ["-qec", cmd, "/dev/null"], { env, encoding: "utf8" }, (_e, stdout) => resolve(stdout)),
    );
    const screens = text.split(new RegExp(`\r|${String.fromCharCode(27)}\\[1G`));
    expect(screens.some((l) => /^one\.bin \[.*\] 100% \| 6\.00 MiB\/6\.00 MiB \| [\d.]+ (KiB|MiB|GiB)\/s \| ETA \d+s/.test(l))).toBe(true);
    // the tree's total: its tar size, from one recursive listing (6 MiB + headers)
    expect(screens.some((l) => /^prog\/ \[.*\] 100% \| 6\.00 MiB\/6\.00 MiB \| /.test(l))).toBe(true);
    expect(sha(fs.readFileSync(join(out, "one.bin")))).toBe(sha(data));
  });
});
