// DNS rebinding: a page on rebind.evil.example whose name now resolves to 127.0.0.1 sends
// `Host: rebind.evil.example` and `Origin: http://rebind.evil.example` to the loopback server.
// Without auth, only loopback Host names (and --allowed-host / --public-origin names) are
// served, and CORS "same-origin" means the server's configured public origins, never the
// request's own Host.
import { existsSync, rmSync, writeFileSync } from "node:fs";
import type { LookupFunction } from "node:net";
import { join } from "node:path";
import { Command } from "commander";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { afterEach, describe, expect, it } from "vitest";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { addAuthOptions, buildAuth } from "../../src/cli/auth-options.js";
import { silentLogger } from "../../src/log.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { codeAndMessage } from "../support/status.js";
import { hsSecret, key, rawRequest, startAuthServer, type AuthTestServer } from "./support.js";

const parse = (args: string[]) => addAuthOptions(new Command().exitOverride()).parse(args, { from: "user" }).opts();

/** A server wired as `podfiles serve` wires it from these flags (no auth unless the flags say so). */
async function serveWith(args: string[]): Promise<TestServer> {
  const built = buildAuth(parse(args), { host: "127.0.0.1", logger: silentLogger });
  return startTestServer(built.server);
}

const mkdir = (s: TestServer, path: string, headers: Record<string, string>) =>
  rawRequest(`${s.url}/podfiles.v1.FileService/MakeDirectory`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ container: s.container, path }),
  });

describe("no auth: the Host header must name this machine's loopback (DNS rebinding)", () => {
  let s: TestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("a rebinding request (Host and Origin rebind.evil.example) is refused and creates nothing", async () => {
    s = await serveWith([]);
    const port = String(s.port);
    const res = await mkdir(s, "/pwned", { host: `rebind.evil.example:${port}`, origin: `http://rebind.evil.example:${port}` });
    expect(res.status).toBe(403);
    // without an Origin (a same-origin GET, or a non-browser client using the name) the Host alone is refused
    const noOrigin = await mkdir(s, "/pwned2", { host: `rebind.evil.example:${port}` });
    expect(noOrigin.status).toBe(403);
    expect(JSON.parse(noOrigin.body)).toMatchObject({
      code: "permission_denied",
      message: expect.stringMatching(/host "rebind\.evil\.example:\d+" is not served without auth.*--allowed-host/),
    });
    expect(existsSync(join(s.root, "pwned"))).toBe(false);
    expect(existsSync(join(s.root, "pwned2"))).toBe(false);
  });

  it("over gRPC the :authority is checked the same way (PERMISSION_DENIED)", async () => {
    s = await serveWith([]);
    // the name resolves to the loopback address, as after a rebinding; :authority carries the name
    const lookup: LookupFunction = (_host, opts, cb) => (opts.all ? cb(null, [{ address: "127.0.0.1", family: 4 }]) : cb(null, "127.0.0.1", 4));
    const baseUrl = `http://rebind.evil.example:${s.port}`;
    const sessions = new Http2SessionManager(baseUrl, undefined, { lookup } as object);
    const evil = createClient(FileService, createGrpcTransport({ baseUrl, sessionManager: sessions }));
    try {
      const [code, message] = await codeAndMessage(evil.makeDirectory({ container: s.container, path: "/pwned" }));
      expect(code).toBe(Code.PermissionDenied);
      expect(message).toMatch(/rebind\.evil\.example/);
      expect(existsSync(join(s.root, "pwned"))).toBe(false);
      // Download and Upload data take the fast paths (src/server/fast-path): the same check applies
      writeFileSync(join(s.root, "secret.txt"), "local only");
      const [dl] = await codeAndMessage(
        (async () => {
          for await (const _ of evil.download({ container: s!.container, path: "/secret.txt" })) void _;
        })(),
      );
      expect(dl).toBe(Code.PermissionDenied);
      const [up] = await codeAndMessage(
        evil.upload(
          (async function* () {
            yield { part: { case: "header" as const, value: { container: s!.container, path: "/pwned.txt" } } };
            yield { part: { case: "data" as const, value: new Uint8Array([1, 2, 3]) } };
          })(),
        ),
      );
      expect(up).toBe(Code.PermissionDenied);
      expect(existsSync(join(s.root, "pwned.txt"))).toBe(false);
    } finally {
      sessions.abort();
    }
  });

  it("loopback names still work: 127.0.0.1, localhost, [::1], *.localhost", async () => {
    s = await serveWith([]);
    for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `[::1]:${s.port}`, `app.localhost:${s.port}`, "127.0.0.1"]) {
      const res = await mkdir(s, `/ok-${host.replace(/[^a-z0-9]/gi, "_")}`, { host });
      expect(res.status, host).toBe(200);
    }
    expect((await s.clients.grpc.stat({ container: s.container, path: "/" })).entry?.path).toBe("/");
    expect((await s.clients.connectJson.stat({ container: s.container, path: "/" })).entry?.path).toBe("/");
  });

  it("--allowed-host names are served too", async () => {
    s = await serveWith(["--allowed-host", "files.internal.example", "--allowed-host", "other.example"]);
    expect((await mkdir(s, "/a", { host: `files.internal.example:${s.port}` })).status).toBe(200);
    expect((await mkdir(s, "/b", { host: "other.example" })).status).toBe(200);
    expect((await mkdir(s, "/c", { host: "rebind.evil.example" })).status).toBe(403);
  });
});

describe("CORS same-origin uses the configured public origins, never the request's Host", () => {
  let s: TestServer | AuthTestServer | undefined;
  afterEach(async () => {
    await s?.close();
    s = undefined;
  });

  it("default: the listen address's loopback origins are same-origin", async () => {
    s = await serveWith([]);
    for (const origin of [`http://127.0.0.1:${s.port}`, `http://localhost:${s.port}`, `http://[::1]:${s.port}`]) {
      const res = await mkdir(s, `/o-${origin.length}-${origin.charCodeAt(7)}`, { origin });
      expect(res.status, origin).toBe(200);
      expect(res.headers["access-control-allow-origin"]).toBe(origin);
    }
  });

  it("an Origin equal to a rebound Host is not same-origin, even with auth on", async () => {
    s = await startAuthServer({ jwt: { keys: [key("k", hsSecret())] } });
    const res = await rawRequest(`${s.url}/podfiles.v1.FileService/Stat`, {
      method: "OPTIONS",
      headers: { host: "rebind.evil.example", origin: "http://rebind.evil.example", "access-control-request-method": "POST" },
    });
    expect(res.status).toBe(403);
    expect(res.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("--public-origin: that origin gets CORS and its host is served", async () => {
    s = await serveWith(["--public-origin", "https://files.example.com"]);
    const res = await mkdir(s, "/from-public", { host: "files.example.com", origin: "https://files.example.com" });
    expect(res.status).toBe(200);
    expect(res.headers["access-control-allow-origin"]).toBe("https://files.example.com");
    expect(existsSync(join(s.root, "from-public"))).toBe(true);
    // the loopback defaults give way to the configured origins
    expect((await mkdir(s, "/from-loopback-origin", { origin: `http://127.0.0.1:${s.port}` })).status).toBe(403);
    rmSync(join(s.root, "from-public"), { recursive: true });
  });
});
