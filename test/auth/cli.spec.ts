// `podfiles serve` auth flags: refusing to start unsafely, and a served
// directory that only answers with a token.
import { afterAll, describe, expect, it } from "vitest";
import { Command } from "commander";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { AuthService } from "../../gen/ts/podfiles/v1/auth_pb.js";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { addAuthOptions, buildAuth, isLoopback } from "../../src/cli/auth-options.js";
import { registerServe } from "../../src/cli/commands/serve.js";
import { hashPassword } from "../../src/auth/passwords.js";
import { createServer } from "../../src/server/server.js";
import { LocalResolver } from "../../src/resolve/local-resolver.js";
import { silentLogger } from "../../src/log.js";
import { basic, bearer, hsSecret, memoryLogger, tmpDir, writeTmp } from "./support.js";

const serve = (args: string[]) => {
  const program = new Command().exitOverride();
  registerServe(program);
  return program.parseAsync(["serve", "--root", tmpDir(), "--port", "0", ...args], { from: "user" });
};
const parse = (args: string[]) => addAuthOptions(new Command().exitOverride()).parse(args, { from: "user" }).opts();

describe("serve auth flags", () => {
  it("non-loopback --host without auth exits with a clear error", async () => {
    await expect(serve(["--host", "0.0.0.0"])).rejects.toThrow(/--host 0.0.0.0: refusing to serve files without authentication .*--insecure-allow-anonymous/);
    await expect(serve(["--host", "::"])).rejects.toThrow(/refusing/);
  });

  it("--insecure-allow-anonymous allows it, loudly", () => {
    const logger = memoryLogger();
    const built = buildAuth(parse(["--insecure-allow-anonymous"]), { host: "0.0.0.0", logger });
    expect(built.anonymous).toBe(true);
    expect(logger.lines[0]).toMatchObject({ level: "warn", msg: expect.stringMatching(/^INSECURE/) });
  });

  it("loopback without auth is fine (the local demo)", () => {
    for (const h of ["127.0.0.1", "localhost", "::1", "127.0.0.2"]) expect(isLoopback(h), h).toBe(true);
    for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.com"]) expect(isLoopback(h), h).toBe(false);
    expect(buildAuth(parse([]), { host: "127.0.0.1", logger: silentLogger }).anonymous).toBe(true);
  });

  it("--auth jwt refuses to start without a key; flags that need a mode are refused without it", async () => {
    await expect(serve(["--host", "0.0.0.0", "--auth", "jwt"])).rejects.toThrow(/--auth jwt needs a key: --jwt-key <file>.*no built-in key/);
    expect(() => buildAuth(parse(["--jwt-key", "x"]), { host: "127.0.0.1", logger: silentLogger })).toThrow(/--auth is none/);
    expect(() => buildAuth(parse(["--auth", "ldap"]), { host: "127.0.0.1", logger: silentLogger })).toThrow(/unknown mode "ldap"/);
    expect(() => buildAuth(parse(["--auth", "jwt", "--jwt-key", "/nonexistent/k"]), { host: "127.0.0.1", logger: silentLogger })).toThrow(
      /--jwt-key \/nonexistent\/k: no such file/,
    );
    expect(() => buildAuth(parse(["--auth", "jwt", "--jwt-key", writeTmp("short.key", "short")]), { host: "127.0.0.1", logger: silentLogger })).toThrow(
      /at least 32 bytes/,
    );
    const clients = writeTmp("clients.json", JSON.stringify({ clients: [{ name: "x", passwordHash: "plain", scope: { namespaces: ["a"], verbs: ["get"] } }] }));
    expect(() =>
      buildAuth(parse(["--auth", "jwt", "--jwt-key", writeTmp("k.key", hsSecret()), "--auth-clients", clients]), { host: "127.0.0.1", logger: silentLogger }),
    ).toThrow(/passwordHash: not a scrypt hash/);
  });

  describe("--auth jwt on 0.0.0.0, end to end", () => {
    let close: (() => Promise<void>) | undefined;
    afterAll(() => close?.());

    it("Basic → IssueToken → bearer calls; without a token UNAUTHENTICATED", async () => {
      const keyFile = writeTmp("2025-01.key", hsSecret());
      const clients = writeTmp(
        "clients.json",
        JSON.stringify({ clients: [{ name: "ci", passwordHash: await hashPassword("s3cret-pass"), scope: { namespaces: ["local"], verbs: ["get"] } }] }),
      );
      const opts = parse(["--auth", "jwt", "--jwt-key", keyFile, "--auth-clients", clients, "--cors-origin", "https://ui.example.com"]);
      const built = buildAuth(opts, { host: "0.0.0.0", logger: silentLogger });
      expect(built.summary).toMatch(/jwt \(signing key 2025-01, issuer podfiles, audience podfiles, 1 token clients\)/);
      const running = await createServer({ resolver: new LocalResolver({ root: tmpDir() }), logger: silentLogger, ...built.server }).listen(0, "127.0.0.1");
      close = running.close;
      const t = createConnectTransport({ baseUrl: running.url, httpVersion: "1.1" });
      const files = createClient(FileService, t);
      const ref = { namespace: "local", pod: "local", container: "local" };
      await expect(files.stat({ container: ref, path: "/" })).rejects.toSatisfy((e) => ConnectError.from(e).code === Code.Unauthenticated);
      const { token } = await createClient(AuthService, t).issueToken({}, basic("ci", "s3cret-pass"));
      expect((await files.stat({ container: ref, path: "/" }, bearer(token))).entry?.path).toBe("/");
    });
  });
});
