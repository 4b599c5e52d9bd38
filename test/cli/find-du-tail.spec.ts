// podfiles find, du and tail, run as child processes against a real server.
import { exec, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import * as fs from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { until } from "../support/until.js";
import { cliEnv, ensureBuilt, runCli, spawnCli } from "./run-cli.js";

const R = "local/local:";
const execAsync = promisify(exec);
let server: TestServer;
let env: NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, { env });

beforeAll(async () => {
  ensureBuilt();
  server = await startTestServer();
  env = cliEnv(server.url);
  const r = server.root;
  fs.mkdirSync(join(r, "app/logs/old"), { recursive: true });
  fs.writeFileSync(join(r, "app/logs/a.log"), "x".repeat(5000));
  fs.writeFileSync(join(r, "app/logs/old/b.log"), "y".repeat(100));
  fs.writeFileSync(join(r, "app/config.yaml"), "k: v\n");
  fs.writeFileSync(join(r, "app/lines.txt"), Array.from({ length: 20 }, (_, i) => `L${i + 1}\n`).join(""));
  for (let i = 0; i < 3000; i++) fs.writeFileSync(join(r, `app/logs/old/n${i}.log`), "");
});
afterAll(() => server?.close());

describe("podfiles find", () => {
  it("prints matching paths, with filters", async () => {
    const r = await cli("find", `${R}/app`, "--name", "*.log", "--min-size", "1k");
    expect(r).toMatchObject({ code: 0, stdout: "/app/logs/a.log\n" });
    const dirs = await cli("find", `${R}/app`, "--type", "d");
    expect(dirs.stdout.split("\n").filter(Boolean).sort()).toEqual(["/app/logs", "/app/logs/old"]);
    const shallow = await cli("find", `${R}/app`, "--max-depth", "1", "--type", "f");
    expect(shallow.stdout.split("\n").filter(Boolean).sort()).toEqual(["/app/config.yaml", "/app/lines.txt"]);
  });

  it("prints digests like sha256sum, and JSON lines", async () => {
    const r = await cli("find", `${R}/app`, "--name", "config.yaml", "--digest", "sha256");
    expect(r.stdout).toBe(
      `${
        execFileSync("sha256sum", [join(server.root, "app/config.yaml")])
          .toString()
          .split(" ")[0]
      }  /app/config.yaml\n`,
    );
    const j = await cli("find", `${R}/app`, "--name", "a.log", "--json");
    expect(JSON.parse(j.stdout.trim())).toMatchObject({ path: "/app/logs/a.log", type: "regular", size: 5000 });
  });

  it("exits 2 on bad flags and 1 on a bad regex, with one line", async () => {
    const t = await cli("find", `${R}/app`, "--type", "x");
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/--type x: use f, d/);
    const re = await cli("find", `${R}/app`, "--regex", "(");
    expect(re.code).toBe(1);
    expect(re.stderr.trim().split("\n")).toHaveLength(1);
    expect(re.stderr).toMatch(/INVALID_ARGUMENT.*path_regex/);
  });

  it("stops quietly when the reader goes away (| head -1)", async () => {
    // async: the server answering the CLI lives in this process
    const { stdout: out } = await execAsync(
      `node ${JSON.stringify(join(process.cwd(), "bin/podfiles.js"))} find ${R}/app --name 'n*.log' | head -1; echo "status \${PIPESTATUS[0]}"`,
      {
        env,
        shell: "/bin/bash",
        timeout: 20_000,
      },
    );
    expect(out).toMatch(/^\/app\/logs\/old\/n\d+\.log\nstatus 0\n$/);
  });
});

describe("podfiles du", () => {
  it("prints KiB, bytes, -h and -d/-s like du", async () => {
    const b = await cli("du", "-b", `${R}/app`);
    const lines = b.stdout.trim().split("\n");
    expect(lines.at(-1)).toMatch(/^\d+\t\/app$/);
    expect(lines.map((l) => l.split("\t")[1])).toEqual(["/app/logs/old", "/app/logs", "/app"]);
    const h = await cli("du", "-h", "-d", "1", `${R}/app`);
    expect(h.code).toBe(0);
    expect(
      h.stdout
        .trim()
        .split("\n")
        .map((l) => l.split("\t")[1]),
    ).toEqual(["/app/logs", "/app"]);
    expect(h.stdout).toMatch(/^\d+(\.\d)?[KM]?\t\/app\/logs\n/);
    const s = await cli("du", "-s", `${R}/app`);
    expect(s.stdout).toMatch(/^\d+\t\/app\n$/);
    const j = await cli("du", "--json", "-s", `${R}/app`);
    expect(JSON.parse(j.stdout)).toMatchObject({ path: "/app", depth: 0, directories: 2 });
    expect((await cli("du", "--help")).stdout).toMatch(/human-readable/);
  });
});

describe("podfiles tail", () => {
  it("prints the last lines", async () => {
    expect((await cli("tail", `${R}/app/lines.txt`)).stdout).toBe(Array.from({ length: 10 }, (_, i) => `L${i + 11}\n`).join(""));
    expect((await cli("tail", "-n", "2", `${R}/app/lines.txt`)).stdout).toBe("L19\nL20\n");
    expect((await cli("tail", "--offset", "6", `${R}/app/lines.txt`)).stdout.startsWith("L3\n")).toBe(true);
    expect((await cli("tail", "-n", "1", "--namespace", "local", `local:/app/lines.txt`)).stdout).toBe("L20\n");
  });

  it("-f follows appends and a rotation, and Ctrl-C ends it with exit 0", async () => {
    const file = join(server.root, "app/follow.log");
    fs.writeFileSync(file, "one\n");
    const child = spawnCli(["tail", "-f", `${R}/app/follow.log`], { env });
    let out = "";
    let err = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
    await until("first line", async () => (out.includes("one\n") ? true : undefined), 10_000, 20);
    fs.appendFileSync(file, "two\n");
    await until("appended line", async () => (out.includes("two\n") ? true : undefined), 5000, 20);
    fs.renameSync(file, `${file}.1`);
    fs.writeFileSync(file, "three\n");
    await until("the new file", async () => (out.includes("three\n") ? true : undefined), 5000, 20);
    expect(err).toMatch(/was replaced; following the new file/);
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(out).toBe("one\ntwo\nthree\n");
  });
});
