// Which way the CLI connects: --server / $PODFILES_SERVER directly, else a kubeconfig (--kubeconfig,
// --context, $KUBECONFIG, ~/.kube/config) through the API server, else http://127.0.0.1:8080 as before.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connectionMode } from "../../src/cli/commands/client.js";
import { UsageError } from "../../src/cli/commands/errors.js";

describe("connectionMode", () => {
  const keys = ["HOME", "PODFILES_SERVER", "KUBECONFIG"] as const;
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  let home = "";
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), "podfiles-mode-"));
    process.env.HOME = home;
    delete process.env.PODFILES_SERVER;
    delete process.env.KUBECONFIG;
  });
  afterEach(() => {
    // key by key: a replaced process.env object no longer reaches the real environment (os.homedir reads HOME there)
    for (const k of keys) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    rmSync(home, { recursive: true, force: true });
  });

  it("nothing given, no kubeconfig anywhere: the local default server", () => {
    expect(connectionMode({})).toEqual({ kind: "server", url: "http://127.0.0.1:8080" });
  });
  it("--server and $PODFILES_SERVER go direct even with $KUBECONFIG set", () => {
    process.env.KUBECONFIG = "/somewhere";
    expect(connectionMode({ server: "10.0.0.1:9000" })).toEqual({ kind: "server", url: "http://10.0.0.1:9000" });
    process.env.PODFILES_SERVER = "https://files.example";
    expect(connectionMode({})).toEqual({ kind: "server", url: "https://files.example" });
  });
  it("$KUBECONFIG, ~/.kube/config or --context: the kubeconfig tunnel", () => {
    process.env.KUBECONFIG = "/somewhere";
    expect(connectionMode({}).kind).toBe("kubeconfig");
    delete process.env.KUBECONFIG;
    mkdirSync(join(home, ".kube"));
    writeFileSync(join(home, ".kube", "config"), "apiVersion: v1\n");
    expect(connectionMode({})).toEqual({ kind: "kubeconfig", kubeconfig: undefined, context: undefined });
    expect(connectionMode({ context: "prod" })).toEqual({ kind: "kubeconfig", kubeconfig: undefined, context: "prod" });
  });
  it("--kubeconfig with --server is a usage error; a missing --kubeconfig file too", () => {
    expect(() => connectionMode({ server: "http://x:1", kubeconfig: "/etc/hostname" })).toThrow(UsageError);
    expect(() => connectionMode({ kubeconfig: join(home, "nope") })).toThrow(/no such file/);
  });
});
