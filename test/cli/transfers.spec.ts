// put - (stdin), cat, mv into a directory, get's -f and the hints that name the CLI's flags:
// the built CLI as a child process against a real server.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { cliEnv, ensureBuilt, repo, runCli, type CliResult } from "./run-cli.js";

const R = "local/local:";
const sha = (b: Buffer | Uint8Array) => createHash("sha256").update(b).digest("hex");
let server: TestServer;
let env: NodeJS.ProcessEnv;
let work: string;
const cli = (...args: string[]) => runCli(args, { env, cwd: work });

/** The CLI with `input` on its stdin. */
function cliWithStdin(input: Buffer, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(repo, "bin/podfiles.js"), ...args], { env, cwd: work, encoding: "utf8" }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin!.end(input);
  });
}

beforeAll(async () => {
  ensureBuilt();
  server = await startTestServer();
  env = cliEnv(server.url);
  work = fs.mkdtempSync(join(tmpdir(), "podfiles-cli-t-"));
});
afterAll(async () => {
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("put - (stdin)", () => {
  it("uploads what arrives on stdin, SHA-256 checked; -f to replace", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const r = await cliWithStdin(data, ["put", "-v", "-", `${R}/stdin.bin`]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`sha256 ${sha(data)}`);
    expect(sha(fs.readFileSync(join(server.root, "stdin.bin")))).toBe(sha(data));
    const again = await cliWithStdin(Buffer.from("x"), ["put", "-", `${R}/stdin.bin`]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^podfiles: ALREADY_EXISTS: \/stdin\.bin: already exists \(use -f to replace it\)\n$/);
    expect((await cliWithStdin(Buffer.from("x"), ["put", "-f", "-", `${R}/stdin.bin`])).code).toBe(0);
    expect(fs.readFileSync(join(server.root, "stdin.bin"), "utf8")).toBe("x");
  });

  it("put - into a directory needs a file name", async () => {
    fs.mkdirSync(join(server.root, "stdin-dir"));
    const r = await cliWithStdin(Buffer.from("y"), ["put", "-", `${R}/stdin-dir/`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^podfiles: put -: name the remote file/);
  });
});

describe("cat", () => {
  it("writes remote files to stdout, one after another", async () => {
    fs.writeFileSync(join(server.root, "cat-a.txt"), "A\n");
    fs.writeFileSync(join(server.root, "cat-b.txt"), "B\n");
    const r = await cli("cat", `${R}/cat-a.txt`, `${R}/cat-b.txt`);
    expect(r).toMatchObject({ code: 0, stdout: "A\nB\n", stderr: "" });
    const dir = await cli("cat", `${R}/`);
    expect(dir.code).toBe(1);
    expect(dir.stderr).toMatch(/^podfiles: FAILED_PRECONDITION: \/: is a directory/);
    const missing = await cli("cat", `${R}/nope`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^podfiles: NOT_FOUND: /);
  });
});

describe("mv into an existing directory, as mv(1)", () => {
  it("moves the entry inside the directory, keeping its name", async () => {
    fs.mkdirSync(join(server.root, "mvdir"));
    fs.writeFileSync(join(server.root, "mv-in.txt"), "in");
    const r = await cli("mv", `${R}/mv-in.txt`, "/mvdir");
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(fs.readFileSync(join(server.root, "mvdir/mv-in.txt"), "utf8")).toBe("in");
    fs.writeFileSync(join(server.root, "mv-in2.txt"), "in2");
    expect((await cli("mv", `${R}/mv-in2.txt`, `${R}/mvdir/`)).code).toBe(0);
    expect(fs.existsSync(join(server.root, "mvdir/mv-in2.txt"))).toBe(true);
    // an existing entry of that name inside is kept unless -f, and the hint names -f
    fs.writeFileSync(join(server.root, "mv-in.txt"), "again");
    const clash = await cli("mv", `${R}/mv-in.txt`, "/mvdir");
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/^podfiles: ALREADY_EXISTS: \/mvdir\/mv-in\.txt: already exists \(use -f to replace it\)\n$/);
    expect((await cli("mv", "-f", `${R}/mv-in.txt`, "/mvdir")).code).toBe(0);
    expect(fs.readFileSync(join(server.root, "mvdir/mv-in.txt"), "utf8")).toBe("again");
  });
});

describe("get never replaces a local file unless -f", () => {
  it("refuses an existing local file (exit 1, names -f), replaces it with -f", async () => {
    fs.writeFileSync(join(server.root, "get-me.txt"), "remote");
    const local = join(work, "get-me.txt");
    fs.writeFileSync(local, "local");
    const r = await cli("get", `${R}/get-me.txt`, local);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^podfiles: ALREADY_EXISTS: .*get-me\.txt: the local file exists \(use -f to replace it\)\n$/);
    expect(fs.readFileSync(local, "utf8")).toBe("local");
    expect((await cli("get", "-f", `${R}/get-me.txt`, local)).code).toBe(0);
    expect(fs.readFileSync(local, "utf8")).toBe("remote");
  });

  it("the hint for a non-empty directory names -r", async () => {
    fs.mkdirSync(join(server.root, "full/d"), { recursive: true });
    const r = await cli("rm", `${R}/full`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\(use -r to remove it\)\n$/);
  });
});

describe("cat into a pipe that closes early", () => {
  it("stops quietly, exit 0 (as cat(1) under `| head`)", async () => {
    fs.writeFileSync(join(server.root, "long.bin"), randomBytes(16 * 1024 * 1024));
    const r = await new Promise<CliResult>((resolve) =>
      execFile(
        "bash",
        ["-c", `'${process.execPath}' '${join(repo, "bin/podfiles.js")}' cat ${R}/long.bin | head -c 10 >/dev/null; echo "rc=\${PIPESTATUS[0]}"`],
        { env, encoding: "utf8" },
        (_e, stdout, stderr) => resolve({ code: 0, stdout, stderr }),
      ),
    );
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("rc=0");
  });
});

describe("put --resume's hint names the flag", () => {
  it("a remote file that is not a partial copy: FAILED_PRECONDITION … without --resume", async () => {
    const local = join(work, "resume-src.bin");
    fs.writeFileSync(local, randomBytes(200_000));
    fs.writeFileSync(join(server.root, "resume-dst.bin"), randomBytes(100_000));
    const r = await cli("put", "--resume", local, `${R}/resume-dst.bin`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^podfiles: FAILED_PRECONDITION: \/resume-dst\.bin differs from the source before byte 100000: upload it again without --resume\n$/,
    );
  });
});
