// What a new user does: `npm pack`, install the tarball into an empty project, run the README's
// TypeScript example (examples/ts/quickstart.mjs, shipped in the package) with plain `node`
// against `podfiles serve` started from the installed package — no tsx, no build step. The
// example is also type-checked (// @ts-check) against the installed .d.ts files.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, repo } from "../cli/run-cli.js";

const run = promisify(execFile);
const npm = process.platform === "win32" ? "npm.cmd" : "npm";
let work: string;
let project: string;
let server: ChildProcess | undefined;
let serverUrl: string;

beforeAll(async () => {
  ensureBuilt();
  work = fs.mkdtempSync(join(tmpdir(), "podfiles-pack-"));
  const { stdout } = await run(npm, ["pack", "--json", "--pack-destination", work], { cwd: repo, maxBuffer: 64 << 20 });
  const tarball = join(work, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
  project = join(work, "project");
  fs.mkdirSync(project);
  fs.writeFileSync(join(project, "package.json"), JSON.stringify({ name: "podfiles-pack-check", private: true, type: "module" }));
  await run(npm, ["install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel", "error", tarball], { cwd: project, maxBuffer: 64 << 20 });

  const root = join(work, "root");
  fs.mkdirSync(root);
  fs.writeFileSync(join(root, "hello.txt"), "hello");
  server = spawn(process.execPath, [join(project, "node_modules/podfiles/bin/podfiles.js"), "serve", "--root", root, "--port", "0"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let err = "";
    server!.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /"msg":"listening".*?"port":(\d+)/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    server!.once("exit", (code) => reject(new Error(`podfiles serve (installed from the tarball) exited with ${code}: ${err}`)));
  });
  server.stdout!.resume();
  serverUrl = `http://127.0.0.1:${port}`;
}, 300_000);

afterAll(() => {
  server?.kill("SIGTERM");
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("npm pack → install → node", () => {
  it("ships compiled JS, .d.ts and the bundle, no TypeScript sources, tests or the node_modules link", () => {
    const pkg = join(project, "node_modules/podfiles");
    for (const f of [
      "dist/src/index.js",
      "dist/src/index.d.ts",
      "dist/src/web.js",
      "dist/src/server/index.js",
      "dist/gen/ts/podfiles/v1/files_pb.js",
      "dist/gen/ts/podfiles/v1/files_pb.d.ts",
      "dist/bundle/client-main.js",
      "examples/ts/quickstart.mjs",
    ]) {
      expect(fs.existsSync(join(pkg, f)), f).toBe(true);
    }
    for (const f of ["src/index.ts", "test", "gen/ts/podfiles/v1/files_pb.ts", "bench"]) expect(fs.existsSync(join(pkg, f)), f).toBe(false);
  });

  it("runs the README's example (examples/ts/quickstart.mjs) with plain node", async () => {
    fs.copyFileSync(join(project, "node_modules/podfiles/examples/ts/quickstart.mjs"), join(project, "quickstart.mjs"));
    const { stdout } = await run(process.execPath, ["quickstart.mjs"], {
      cwd: project,
      env: { ...process.env, PODFILES_SERVER: serverUrl, PODFILES_TOKEN: "" },
    });
    expect(stdout).toContain("hello.txt 5");
    expect(stdout).toContain("hello from the SDK");
    expect(stdout).toMatch(/hello\.txt: 19 bytes, sha256 [0-9a-f]{64}/);
    expect(stdout).toContain("NOT_FOUND: /no/such/file");
    expect(fs.readFileSync(join(project, "hello.txt"), "utf8")).toBe("hello from the SDK\n");
  }, 60_000);

  it("the example type-checks against the installed declarations; podfiles/web and podfiles/server resolve", async () => {
    const tsc = join(repo, "node_modules/typescript/bin/tsc");
    const check = join(project, "check.ts");
    fs.writeFileSync(
      check,
      [
        `import { createPodfilesWebClient, type PodfilesWebClient } from "podfiles/web";`,
        `import { createServer, LocalResolver } from "podfiles/server";`,
        `export const web: PodfilesWebClient = createPodfilesWebClient({ baseUrl: "http://x" });`,
        `export const s = [createServer, LocalResolver];`,
      ].join("\n"),
    );
    const args = [
      "--noEmit",
      "--allowJs",
      "--checkJs",
      "--strict",
      "--skipLibCheck",
      "--module",
      "nodenext",
      "--moduleResolution",
      "nodenext",
      "--target",
      "es2022",
    ];
    const types = ["--typeRoots", join(repo, "node_modules/@types"), "--types", "node"];
    await run(process.execPath, [tsc, ...args, ...types, "quickstart.mjs", "check.ts"], { cwd: project }).catch((err: { stdout?: string }) => {
      throw new Error(`tsc: ${err.stdout}`);
    });
    const { stdout } = await run(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const w = await import("podfiles/web"); const s = await import("podfiles/server"); console.log(typeof w.createPodfilesWebClient, typeof s.createServer)`,
      ],
      { cwd: project },
    );
    expect(stdout.trim()).toBe("function function");
  }, 120_000);
});
