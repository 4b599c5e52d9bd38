// Issue #16 in the CLI: `--digest sha256|crc32|none` on get and put, run as child processes
// against a real server. The default stays SHA-256 (put -v prints it as before).
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { cliEnv, ensureBuilt, runCli } from "./run-cli.js";

const R = "local/local:";
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const crc = (b: Uint8Array) => crc32(b).toString(16).padStart(8, "0");
const data = randomBytes(2 * 1024 * 1024 + 5);

let server: TestServer;
let env: NodeJS.ProcessEnv;
let work: string;
const cli = (...args: string[]) => runCli(args, { env, cwd: work });

beforeAll(async () => {
  ensureBuilt();
  server = await startTestServer();
  env = cliEnv(server.url);
  work = fs.mkdtempSync(join(tmpdir(), "podfiles-cli-digest-"));
  fs.writeFileSync(join(work, "data.bin"), data);
  fs.mkdirSync(join(work, "tree/sub"), { recursive: true });
  fs.writeFileSync(join(work, "tree/sub/a.txt"), "a");
});
afterAll(async () => {
  await server?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("--digest", () => {
  it.each([
    { digest: "sha256", printed: () => `sha256 ${sha(data)}` },
    { digest: "crc32", printed: () => `crc32 ${crc(data)}` },
    { digest: "none", printed: () => "no digest" },
  ])("put and get --digest $digest move the file and say which digest checked it", async ({ digest, printed }) => {
    const put = await cli("put", "-v", "--digest", digest, "data.bin", `${R}/${digest}.bin`);
    expect(put).toMatchObject({ code: 0, stderr: "" });
    expect(put.stdout).toContain(`(${data.length} bytes, ${printed()})`);
    expect(sha(fs.readFileSync(join(server.root, `${digest}.bin`)))).toBe(sha(data));
    const get = await cli("get", "-v", "--digest", digest, `${R}/${digest}.bin`, `back-${digest}.bin`);
    expect(get).toMatchObject({ code: 0, stderr: "" });
    expect(get.stdout).toContain(`(${data.length} bytes, ${printed()})`);
    expect(sha(fs.readFileSync(join(work, `back-${digest}.bin`)))).toBe(sha(data));
    const out = await cli("get", "--digest", digest, `${R}/${digest}.bin`, "-");
    expect(out.code).toBe(0);
  });

  it("the default is SHA-256, printed as before", async () => {
    const put = await cli("put", "-v", "data.bin", `${R}/default.bin`);
    expect(put.stdout).toContain(`(${data.length} bytes, sha256 ${sha(data)})`);
  });

  it("directories take it too (the tar stream's digest)", async () => {
    expect(await cli("put", "--digest", "crc32", "tree", `${R}/tree`)).toMatchObject({ code: 0, stderr: "" });
    expect(await cli("get", "--digest", "none", `${R}/tree`, "tree-back")).toMatchObject({ code: 0, stderr: "" });
    expect(fs.readFileSync(join(work, "tree-back/sub/a.txt"), "utf8")).toBe("a");
  });

  it("an unknown digest is a usage error naming the choices", async () => {
    for (const cmd of [
      ["put", "--digest", "md5", "data.bin", `${R}/md5.bin`],
      ["get", "--digest", "md5", `${R}/default.bin`, "x.bin"],
    ]) {
      const r = await cli(...cmd);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--digest md5: use sha256, crc32 or none/);
    }
    expect(fs.existsSync(join(server.root, "md5.bin"))).toBe(false);
  });
});
