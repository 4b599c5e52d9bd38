// kubeconfig.ts against kubeconfig files written here and a real exec plugin (a node script).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadKubeconfig, type LoadedKubeconfig } from "./kubeconfig.js";

let dir = "";
const saved = process.env.KUBECONFIG;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "podfiles-kubeconfig-"));
});
afterEach(() => {
  if (saved === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = saved;
  rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, doc: object) => {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify(doc)); // JSON is YAML
  return f;
};
const config = (user: object, extra: object = {}) => ({
  apiVersion: "v1",
  kind: "Config",
  clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443", "certificate-authority": "ca.crt" } }],
  users: [{ name: "u", user }],
  contexts: [{ name: "ctx", context: { cluster: "c", user: "u", namespace: "shop" } }],
  "current-context": "ctx",
  ...extra,
});
const loaded = (o: Parameters<typeof loadKubeconfig>[0]) => loadKubeconfig(o) as LoadedKubeconfig;

describe("loadKubeconfig", () => {
  it("reads the server, the context's namespace, a CA relative to the file, a static token", async () => {
    writeFileSync(join(dir, "ca.crt"), "CA PEM");
    const k = loaded({ kubeconfig: write("config", config({ token: "t0k" })) });
    expect(k.server.href).toBe("https://127.0.0.1:6443/");
    expect(k.namespace).toBe("shop");
    const c = await k.credentials();
    expect(c.ca?.toString()).toBe("CA PEM");
    expect(c.authorization).toBe("Bearer t0k");
    expect(c.rejectUnauthorized).toBe(true);
  });

  it("client certificate data: cert and key, no token", async () => {
    writeFileSync(join(dir, "ca.crt"), "CA");
    const k = loaded({
      kubeconfig: write(
        "config",
        config({ "client-certificate-data": Buffer.from("CERT").toString("base64"), "client-key-data": Buffer.from("KEY").toString("base64") }),
      ),
    });
    const c = await k.credentials();
    expect(c.cert?.toString()).toBe("CERT");
    expect(c.key?.toString()).toBe("KEY");
    expect(c.authorization).toBeUndefined();
  });

  it("$KUBECONFIG with several files: the first to name a thing wins, current-context from the first that has one", async () => {
    writeFileSync(join(dir, "ca.crt"), "CA");
    const a = write("a", { users: [{ name: "u", user: { token: "from-a" } }] });
    const b = write(
      "b",
      config(
        { token: "from-b" },
        {
          contexts: [
            { name: "ctx", context: { cluster: "c", user: "u" } },
            { name: "other", context: { cluster: "c", user: "u", namespace: "x" } },
          ],
        },
      ),
    );
    process.env.KUBECONFIG = [a, join(dir, "missing"), b].join(delimiter);
    const k = loaded({});
    expect((await k.credentials()).authorization).toBe("Bearer from-a");
    expect(loaded({ context: "other" }).namespace).toBe("x");
    expect(() => loadKubeconfig({ context: "nope" })).toThrow(/no context nope/);
  });

  it("a tokenFile is read on every call (rotated tokens)", async () => {
    writeFileSync(join(dir, "ca.crt"), "CA");
    writeFileSync(join(dir, "token"), "one\n");
    const k = loaded({ kubeconfig: write("config", config({ tokenFile: "token" })) });
    expect((await k.credentials()).authorization).toBe("Bearer one");
    writeFileSync(join(dir, "token"), "two\n");
    expect((await k.credentials()).authorization).toBe("Bearer two");
  });

  it("an exec plugin's token, cached until it expires", async () => {
    writeFileSync(join(dir, "ca.crt"), "CA");
    const counter = join(dir, "runs");
    writeFileSync(counter, "0");
    const script = write("plugin.cjs", {}); // replaced below
    writeFileSync(
      script,
      `const fs=require("fs");const n=Number(fs.readFileSync(${JSON.stringify(counter)},"utf8"))+1;fs.writeFileSync(${JSON.stringify(counter)},String(n));
const info=JSON.parse(process.env.KUBERNETES_EXEC_INFO);
process.stdout.write(JSON.stringify({apiVersion:info.apiVersion,kind:"ExecCredential",status:{token:"exec-"+n+"-"+process.env.EXTRA,expirationTimestamp:new Date(Date.now()+(n===1?5000:3600000)).toISOString()}}));`,
    );
    const k = loaded({
      kubeconfig: write(
        "config",
        config({ exec: { apiVersion: "client.authentication.k8s.io/v1", command: process.execPath, args: [script], env: [{ name: "EXTRA", value: "x" }] } }),
      ),
    });
    // the first token expires in 5 s: inside the 10 s margin, so the next call runs the plugin again
    expect((await k.credentials()).authorization).toBe("Bearer exec-1-x");
    expect((await k.credentials()).authorization).toBe("Bearer exec-2-x");
    expect((await k.credentials()).authorization).toBe("Bearer exec-2-x");
  });

  it("an auth-provider user is handed over (to client-node)", () => {
    expect(loadKubeconfig({ kubeconfig: write("config", config({ "auth-provider": { name: "oidc", config: {} } })) })).toBe("auth-provider");
  });
});
