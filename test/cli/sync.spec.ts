// podfiles sync, run as a child process against a real server: a tree local → pod and back, a
// second run that sends nothing, --dry-run, --delete, --checksum, --json, exit codes.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { cliEnv, ensureBuilt, repo, runCli } from "./run-cli.js";

const R = "local/local:";
const sha = (p: string) => createHash("sha256").update(fs.readFileSync(p)).digest("hex");
let server: TestServer;
let env: NodeJS.ProcessEnv;
let work: string;
const cli = (...args: string[]) => runCli(args, { env, cwd: work });

beforeAll(async () => {
  ensureBuilt();
  server = await startTestServer();
  env = cliEnv(server.url);
  work = fs.mkdtempSync(join(tmpdir(), "podfiles-sync-cli-"));
});
afterAll(async () => {
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

function tree(root: string, files: number): void {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `d${i % 3}`);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(join(dir, `f${i}`), randomBytes(1000 + i));
  }
}

describe("podfiles sync", () => {
  it("mirrors a tree into a pod, then sends only what changed; -v lists actions, the summary counts them", async () => {
    const src = join(work, "src1");
    tree(src, 30);
    const first = await cli("sync", "-v", src, `${R}/mirror1`);
    expect(first.code).toBe(0);
    expect(first.stderr).toBe("");
    const lines = first.stdout.trim().split("\n");
    expect(lines.filter((l) => l.startsWith("+ "))).toHaveLength(30);
    expect(lines.filter((l) => l.startsWith("d ")).sort()).toEqual(["d ./", "d d0/", "d d1/", "d d2/"]);
    expect(lines.at(-1)).toMatch(/^sent 30 file\(s\) \(30 new, 0 changed, .*\), 4 directories made, 0 removed, 0 unchanged in \d+\.\d\d s$/);
    expect(sha(join(server.root, "mirror1/d2/f29"))).toBe(sha(join(src, "d2/f29")));

    const second = await cli("sync", src, `${R}/mirror1`);
    expect(second).toMatchObject({ code: 0, stderr: "" });
    expect(second.stdout).toMatch(/^sent 0 file\(s\) .* 30 unchanged in /);

    fs.writeFileSync(join(src, "d1/f4"), randomBytes(5000));
    fs.rmSync(join(src, "d0/f0"));
    const dry = await cli("sync", "--dry-run", "--delete", src, `${R}/mirror1`);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain("~ d1/f4 (4.9K, size)\n");
    expect(dry.stdout).toContain("- d0/f0\n");
    expect(dry.stdout).toMatch(/would send 1 file\(s\).* 1 removed, 28 unchanged .*\(dry run: nothing changed\)\n$/);
    expect(fs.existsSync(join(server.root, "mirror1/d0/f0"))).toBe(true);

    const real = await cli("sync", "--delete", "--json", src, `${R}/mirror1`);
    expect(real.code).toBe(0);
    const json = real.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(json.slice(0, -1)).toEqual(
      expect.arrayContaining([
        { action: "update", path: "d1/f4", size: 5000, reason: "size" },
        { action: "delete", path: "d0/f0" },
      ]),
    );
    expect(json.at(-1)).toMatchObject({ created: 0, updated: 1, deleted: 1, unchanged: 28, failed: 0, dryRun: false });
    expect(fs.existsSync(join(server.root, "mirror1/d0/f0"))).toBe(false);
  });

  it("pod → local, and --checksum finds a change with the same size and time", async () => {
    tree(join(server.root, "podtree"), 6);
    const out = join(work, "out2");
    expect((await cli("sync", `${R}/podtree`, out)).code).toBe(0);
    expect(sha(join(out, "d0/f3"))).toBe(sha(join(server.root, "podtree/d0/f3")));
    const f = join(server.root, "podtree/d0/f3");
    const { atime, mtime } = fs.statSync(f);
    fs.writeFileSync(f, randomBytes(1003));
    fs.utimesSync(f, atime, mtime);
    expect((await cli("sync", `${R}/podtree`, out)).stdout).toMatch(/^sent 0 file/);
    const c = await cli("sync", "--checksum", "-v", `${R}/podtree`, out);
    expect(c.stdout).toContain("~ d0/f3 (1003, checksum)\n");
    expect(sha(join(out, "d0/f3"))).toBe(sha(f));
  });

  it("usage errors exit 2; a conflict is listed on stderr, the rest is done, exit 1", async () => {
    expect((await cli("sync", join(work, "x"))).code).toBe(2);
    expect((await cli("sync", join(work, "a"), join(work, "b"))).code).toBe(2);
    expect((await cli("sync", "-j", "0", join(work, "a"), `${R}/b`)).code).toBe(2);
    const missing = await cli("sync", `${R}/no-such`, join(work, "o"));
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr).toMatch(/^podfiles: NOT_FOUND: .*no-such: no such file or directory\n$/);

    const src = join(work, "src3");
    tree(src, 3);
    fs.mkdirSync(join(server.root, "mirror3"));
    fs.writeFileSync(join(server.root, "mirror3/d1"), "a file where the source has a directory");
    const r = await cli("sync", src, `${R}/mirror3`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      "podfiles: d1: [FailedPrecondition] d1: a file where the source has a directory at the destination (with delete it is replaced)\n",
    );
    expect(r.stderr).toMatch(/podfiles: FAILED_PRECONDITION: 1 action\(s\) failed \(listed above\); the rest were done\n$/);
    expect(fs.existsSync(join(server.root, "mirror3/d0/f0"))).toBe(true);
    expect(fs.readFileSync(join(server.root, "mirror3/d1"), "utf8")).toMatch(/^a file/);
    expect((await cli("sync", "--delete", src, `${R}/mirror3`)).code).toBe(0);
    expect(sha(join(server.root, "mirror3/d1/f1"))).toBe(sha(join(src, "d1/f1")));
  });

  it("on a terminal: a progress bar of the bytes to send, and the summary", async () => {
    const src = join(work, "src4");
    tree(src, 12);
    fs.writeFileSync(join(src, "big.bin"), randomBytes(3 * 1024 * 1024));
    // util-linux's script(1) gives the CLI a pseudo-terminal for stdout and stderr
    const cmd = `${process.execPath} ${join(repo, "bin/podfiles.js")} sync ${src} ${R}/mirror4`;
    const text = await new Promise<string>((resolve) =>
      execFile("script", ["-qec", cmd, "/dev/null"], { env, encoding: "utf8" }, (_e, stdout) => resolve(stdout)),
    );
    const screens = text.split(new RegExp(`\r|${String.fromCharCode(27)}\\[1G`));
    expect(screens.some((l) => /^sync 13 file\(s\) \[.*\] 100% \| 3\.0\d MiB\/3\.0\d MiB \| /.test(l))).toBe(true);
    expect(text).toMatch(/sent 13 file\(s\) \(13 new/);
  });
});
