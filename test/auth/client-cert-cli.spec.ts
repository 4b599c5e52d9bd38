// The client-certificate flags of `podfiles serve` and `podfiles agent`: what is refused, and
// `serve --auth kubernetes --client-ca-file` end to end (a serving certificate made at start,
// cleartext beside TLS on one port), against the stand-in API server, through curl.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registerAgent, validateAgent, type AgentOptions } from "../../src/cli/commands/agent.js";
import { registerServe, runServe, validateServe, type ServeOptions } from "../../src/cli/commands/serve.js";
import { TestCa } from "../support/test-ca.js";
import { startStandInApiServer, tmpDir, writeTmp } from "./support.js";

const opts = <T>(register: (p: Command) => void, args: string[]): T => {
  const program = new Command().exitOverride();
  let got: T | undefined;
  register(program);
  program.commands[0].action((o: T) => void (got = o));
  program.parse(args, { from: "user" });
  return got!;
};
const serveOpts = (args: string[]) => opts<ServeOptions>(registerServe, ["serve", "--root", tmpDir(), "--port", "0", ...args]);
const agentOpts = (args: string[]) => opts<AgentOptions>(registerAgent, ["agent", "--proc-root", "/proc", "--cri-socket", "none", ...args]);

const curl = (args: string[]) =>
  new Promise<{ status: number; body: string }>((resolve, reject) =>
    execFile("curl", ["-sS", "--max-time", "10", "-w", "\n%{http_code}", ...args], (err, stdout) => {
      if (err) return reject(err);
      const i = stdout.lastIndexOf("\n");
      resolve({ body: stdout.slice(0, i), status: Number(stdout.slice(i + 1)) });
    }),
  );

describe("client-certificate flags", () => {
  let ca: TestCa;
  beforeAll(() => void (ca = new TestCa("cli-client-ca")));
  afterAll(() => ca?.close());

  it("are refused where they cannot work, with a message that says why", () => {
    expect(() => validateServe(serveOpts(["--auth", "jwt", "--jwt-key", "k", "--client-ca-file", ca.certFile]))).toThrow(
      /--client-ca-file needs --auth kubernetes: a certificate's user \(CN\)/,
    );
    expect(() => validateServe(serveOpts(["--client-ca-file", ca.certFile]))).toThrow(/needs --auth kubernetes/);
    expect(() => validateServe(serveOpts(["--auth", "kubernetes", "--client-ca-file", "/nonexistent/ca.crt"]))).toThrow(
      "--client-ca-file /nonexistent/ca.crt: no such file",
    );
    expect(() => validateServe(serveOpts(["--auth", "kubernetes", "--client-ca-file", writeTmp("ca.crt", "not a certificate")]))).toThrow(
      /not a PEM certificate bundle/,
    );
    expect(() => validateServe(serveOpts(["--allow-cleartext"]))).toThrow("--allow-cleartext goes with --tls-cert (without TLS the port is cleartext anyway)");
    expect(() => validateAgent(agentOpts(["--auth", "none", "--client-ca-file", ca.certFile]))).toThrow(/needs --auth kubernetes/);
    // the agent's own default (the cluster's CA) is off without --auth kubernetes, and "none" is always accepted
    expect(validateAgent(agentOpts(["--auth", "jwt", "--client-ca-file", "none"])).listen.clientCaFile).toBe("none");
    expect(validateAgent(agentOpts(["--auth", "kubernetes", "--tls-cert", "c", "--tls-key", "k", "--allow-cleartext"])).listen).toMatchObject({
      tls: { certFile: "c", keyFile: "k" },
      allowCleartext: true,
    });
  });

  describe("serve --auth kubernetes --client-ca-file, no --tls-cert", () => {
    let api: Awaited<ReturnType<typeof startStandInApiServer>>;
    let server: { url: string; port: number; close(): Promise<void> } | undefined;
    let root: string;

    beforeAll(async () => {
      api = await startStandInApiServer({
        tokens: { "token-bob": { username: "bob" } },
        grants: [
          { group: "team-a", namespace: "local", verbs: ["get"] },
          { user: "bob", namespace: "local", verbs: ["get"] },
        ],
      });
      const kubeconfig = join(tmpDir(), "kubeconfig");
      writeFileSync(kubeconfig, api.kubeConfig.exportConfig());
      const o = { ...serveOpts(["--auth", "kubernetes", "--client-ca-file", ca.certFile, "--host", "127.0.0.1"]), kubeconfig };
      const r = validateServe(o);
      root = r.mode === "root" ? r.root : "";
      writeFileSync(join(root, "hello.txt"), "hello\n");
      server = await runServe(o, r);
    });
    afterAll(async () => {
      await server?.close();
      await api?.close();
    });

    it("serves TLS with a serving certificate made at start: alice's certificate is authorized by SubjectAccessReview; cleartext with a token works on the same port", async () => {
      expect(server!.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const body = JSON.stringify({ container: { namespace: "local", pod: "local", container: "local" }, path: "/hello.txt" });
      const call = ["-H", "content-type: application/json", "-d", body];
      const alice = ca.issue({ subject: "/CN=alice/O=team-a" });
      // -k: the serving certificate is self-signed and made at start; nothing verifies it
      const ok = await curl(["-k", "--cert", alice.certFile, "--key", alice.keyFile, ...call, `${server!.url}/podfiles.v1.FileService/Stat`]);
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body).entry.name).toBe("hello.txt");
      expect(api.reviews.at(-1)).toMatchObject({ kind: "SubjectAccessReview", spec: { user: "alice", groups: ["team-a", "system:authenticated"] } });
      const noCert = await curl(["-k", ...call, `${server!.url}/podfiles.v1.FileService/Stat`]);
      expect(noCert.status).toBe(401);
      const plain = await curl(["-H", "authorization: Bearer token-bob", ...call, `http://127.0.0.1:${server!.port}/podfiles.v1.FileService/Stat`]);
      expect(plain.status).toBe(200);
    });
  });
});
