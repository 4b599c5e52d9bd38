// The generated Go module, used from a Go program nobody here wrote the
// transport of: grpc-go, and connect-go over h2c and HTTP/1.1 (Connect binary
// and JSON, gRPC, gRPC-Web). See test/clients/go/*_test.go.
import { readFileSync, statSync, existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { repoRoot, run, seedRoot, sha256 } from "./support.js";

const transports = ["grpc-go", "connect-h2c-proto", "connect-h1-json", "connect-h1-proto", "connect-go-grpc-h2c", "connect-go-grpcweb-h1"];

describe("Go clients (grpc-go, connect-go) with the generated module", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    seedRoot(server.root);
  });
  afterAll(() => server?.close());

  it("runs every call over every Go transport", { timeout: 300_000 }, async () => {
    const res = await run("go", ["test", "-count=1", "-v", "-timeout=240s", "."], {
      cwd: join(repoRoot, "test/clients/go"),
      env: { PODFILES_ADDR: `127.0.0.1:${server.port}`, PODFILES_ROOT: server.root },
      timeoutMs: 280_000,
      check: false,
    });
    const out = res.stdout.toString();
    expect(res.code, `go test failed:\n${out}\n${res.stderr}`).toBe(0);
    expect(out).not.toContain("--- SKIP");

    const results = new Map([...out.matchAll(/^RESULT (\S+) (\S+) (\d+) ([0-9a-f]{64})$/gm)].map((m) => [m[1], { path: m[2], size: Number(m[3]), sha: m[4] }]));
    expect([...results.keys()].sort()).toEqual([...transports].sort());
    for (const name of transports) {
      expect(out).toContain(`--- PASS: TestClients/${name}`);
      const r = results.get(name)!;
      const onDisk = join(server.root, r.path);
      const st = statSync(onDisk);
      expect(st.size).toBe(r.size);
      expect(st.mode & 0o777).toBe(0o640);
      expect(sha256(readFileSync(onDisk))).toBe(r.sha);
      expect(readFileSync(join(server.root, name, "keep.txt"), "utf8")).toBe("keep\n");
      expect(statSync(join(server.root, name, "empty")).size).toBe(0);
      expect(existsSync(join(server.root, name, "a"))).toBe(false);
      expect(existsSync(join(server.root, name, "corrupt.bin"))).toBe(false);
    }
  });
});
