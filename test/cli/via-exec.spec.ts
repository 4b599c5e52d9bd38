// --via exec runs podfiles' server inside the CLI process on a loopback port, acting with the
// user's kubeconfig credentials: the port must refuse every caller but the CLI itself (a podfiles
// JWT signed with a key that never leaves the process). The API server here is a closed port, so a
// call that passes auth ends UNAVAILABLE (the pod lookup), one that does not ends UNAUTHENTICATED.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import jwt from "jsonwebtoken";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { connectionMode } from "../../src/cli/commands/client.js";
import { type ExecConnection, startExecConnection } from "../../src/cli/exec-connection.js";

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "ok" as const,
    (e: unknown) => ConnectError.from(e).code,
  );

describe("--via exec", () => {
  let dir = "";
  let conn: ExecConnection;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "via-exec-"));
    const kubeconfig = join(dir, "config");
    writeFileSync(
      kubeconfig,
      `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: "t"}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: team-a}}]
current-context: x
`,
    );
    conn = await startExecConnection({ kubeconfig });
  });
  afterAll(async () => {
    await conn?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("listens on loopback only, and reports the context's namespace", () => {
    expect(new URL(conn.baseUrl).hostname).toBe("127.0.0.1");
    expect(conn.contextNamespace).toBe("team-a");
  });

  it("refuses a caller without the process's token, or with a token signed by another key", async () => {
    const stat = (headers?: Record<string, string>) =>
      codeOf(
        createClient(FileService, createGrpcTransport({ baseUrl: conn.baseUrl })).stat({ container: { namespace: "ns", pod: "p" }, path: "/" }, { headers }),
      );
    expect(await stat()).toBe(Code.Unauthenticated);
    const forged = jwt.sign({ scopes: { namespaces: ["*"], verbs: ["*"] } }, "x".repeat(32), {
      algorithm: "HS256",
      keyid: "via-exec",
      issuer: "podfiles",
      audience: "podfiles",
      subject: "podfiles-cli",
      expiresIn: 60,
    });
    expect(await stat({ authorization: `Bearer ${forged}` })).toBe(Code.Unauthenticated);
    // the process's own token passes auth: what fails then is the API server (a closed port)
    expect(await stat({ authorization: `Bearer ${conn.token}` })).toBe(Code.Unavailable);
  });

  it("flag checks: --via takes agent or exec, and excludes --server", () => {
    expect(() => connectionMode({ via: "ssh" })).toThrow("--via ssh: use agent or exec");
    expect(() => connectionMode({ via: "exec", server: "http://x" })).toThrow("--server and --via exec exclude each other");
    expect(connectionMode({ via: "exec", context: "x" })).toEqual({ kind: "exec", kubeconfig: undefined, context: "x" });
  });
});
