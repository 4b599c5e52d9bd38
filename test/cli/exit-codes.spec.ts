// Exit codes a script can rely on (0 ok, 1 failed, 2 usage) and `version`/`--version`, driven as
// child processes of the built CLI.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { cliEnv, ensureBuilt, repo, runCli } from "./run-cli.js";

const version = (JSON.parse(readFileSync(join(repo, "package.json"), "utf8")) as { version: string }).version;
let server: TestServer;
let env: NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, { env });

beforeAll(async () => {
  ensureBuilt();
  server = await startTestServer();
  env = cliEnv(server.url);
});
afterAll(async () => {
  await server?.close();
});

describe("version", () => {
  it("--version and `version` print the package's version and exit 0", async () => {
    for (const args of [["--version"], ["version"], ["-V"]]) {
      const r = await cli(...args);
      expect(r).toMatchObject({ code: 0, stderr: "" });
      expect(r.stdout).toBe(`${version}\n`);
    }
  });
});

describe("usage errors exit 2 with one line", () => {
  it.each([
    ["a missing argument", ["stat"]],
    ["a missing argument (client command from the bundle)", ["put", "only-one"]],
    ["an unknown command", ["frobnicate"]],
    ["an unknown option", ["ls", "--no-such-flag", "local/local:/"]],
    ["too many arguments", ["stat", "local/local:/a", "local/local:/b"]],
  ])("%s", async (_what, args) => {
    const r = await cli(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    // one line, naming where the usage is
    expect(r.stderr).toMatch(/^podfiles: [^\n]+ \(see --help\)\n$/);
  });

  it("--help exits 0 and a command's failure exits 1", async () => {
    expect((await cli("--help")).code).toBe(0);
    expect((await cli("ls", "--help")).code).toBe(0);
    expect((await cli("stat", "local/local:/missing")).code).toBe(1);
  });
});

describe("bin/podfiles.js picks the bundle for the client commands", () => {
  it("its list is src/cli/client-commands.ts's", async () => {
    const bin = readFileSync(join(repo, "bin/podfiles.js"), "utf8");
    // the array literal as the formatter leaves it (one line, or one name per line with a trailing comma)
    const literal = /const CLIENT_COMMANDS = new Set\((\[[^\]]*\])\)/.exec(bin)![1]!;
    const listed = JSON.parse(literal.replace(/,\s*\]$/, "]")) as string[];
    const { CLIENT_COMMANDS } = await import("../../src/cli/client-commands.js");
    expect(new Set(listed)).toEqual(CLIENT_COMMANDS);
  });
});

describe("a reader that closes stdout early", () => {
  it("cp --help | true (the reader gone before the first write): no stack trace, exit 0", async () => {
    const r = await new Promise<{ stdout: string; stderr: string }>((resolve) =>
      execFile(
        "bash",
        ["-c", `'${process.execPath}' '${join(repo, "bin/podfiles.js")}' cp --help | true; echo "rc=\${PIPESTATUS[0]}"`],
        { env, encoding: "utf8" },
        (_e, stdout, stderr) => resolve({ stdout, stderr }),
      ),
    );
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("rc=0");
  });
});
