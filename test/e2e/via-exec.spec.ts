// `podfiles --via exec` on the real cluster with NO agent deployed: the CLI runs commands in the
// container through the API server's pods/exec with its kubeconfig's user, as kubectl cp does. The
// user is a ServiceAccount that may get pods and create pods/exec in one namespace, nothing more.
// Witnesses: kubectl exec in the pod (sha256sum, ls), and a user without pods/exec refused.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assertOwnNamespace, createSuiteNamespace, dataPod } from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster, repoRoot } from "./support/cluster.js";

const NS = "via-exec-e2e";
const POD = "plain";
const MiB = 1024 * 1024;
const bin = path.join(repoRoot, "bin/podfiles.js");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!e2eEnabled)("podfiles --via exec: no agent, pods/exec with the kubeconfig's user", () => {
  let cluster: Cluster;
  let dir = "";
  const kubeconfigs: Record<string, string> = {};
  const execIn = (...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", POD, "-c", "main", "--", ...cmd], { timeoutMs: 120_000 });
  const cli = (args: string[], user = "copier") =>
    new Promise<Run>((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, KUBECONFIG: kubeconfigs[user] };
      delete env.PODFILES_SERVER;
      delete env.PODFILES_TOKEN;
      delete env.PODFILES_NAMESPACE;
      execFile(process.execPath, [bin, ...args], { env, timeout: 180_000, maxBuffer: 64 * MiB, encoding: "buffer" }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: stdout.toString("latin1"), stderr: stderr.toString() }),
      );
    });

  async function kubeconfigFor(sa: string, verbs: Record<string, string[]>): Promise<void> {
    await cluster.kubectl(["-n", NS, "create", "serviceaccount", sa]);
    const rules = Object.entries(verbs).map(([resource, v]) => ({ apiGroups: [""], resources: [resource], verbs: v }));
    const role = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: sa, namespace: NS }, rules };
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(role) });
    await cluster.kubectl(["-n", NS, "create", "rolebinding", sa, `--role=${sa}`, `--serviceaccount=${NS}:${sa}`]);
    const admin = JSON.parse(await cluster.kubectl(["config", "view", "--minify", "--raw", "-o", "json"]));
    const token = (await cluster.kubectl(["-n", NS, "create", "token", sa, "--duration=30m"])).trim();
    const kc = {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "e2e", cluster: admin.clusters[0].cluster }],
      users: [{ name: sa, user: { token } }],
      contexts: [{ name: "e2e", context: { cluster: "e2e", user: sa, namespace: NS } }],
      "current-context": "e2e",
    };
    kubeconfigs[sa] = path.join(dir, `${sa}.kubeconfig`);
    await writeFile(kubeconfigs[sa]!, JSON.stringify(kc), { mode: 0o600 });
  }

  beforeAll(async () => {
    cluster = await ensureCluster();
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    dir = await mkdtemp(path.join(tmpdir(), "via-exec-e2e-"));
    await createSuiteNamespace(cluster, NS, "via-exec");
    const node = cluster.nodes[cluster.nodes.length - 1]!.name;
    const pod = dataPod(NS, POD, node);
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
    await kubeconfigFor("copier", { pods: ["get"], "pods/exec": ["create", "get"] });
    await kubeconfigFor("looker", { pods: ["get"] });
    await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", `pod/${POD}`, "--timeout=120s"], { timeoutMs: 130_000 });
  }, 300_000);

  afterAll(async () => {
    if (!cluster) return;
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 200_000);

  it("put, ls, get and rm of a 3 MiB file, odd names included; sha256sum in the pod agrees", async () => {
    const data = randomBytes(3 * MiB + 5);
    const local = path.join(dir, "up.bin");
    await writeFile(local, data);
    const sum = createHash("sha256").update(data).digest("hex");
    for (const name of ["up.bin", "a b.bin", "-dash.bin", "nön-ascii ✓.bin"]) {
      const put = await cli(["put", "--via", "exec", local, `${POD}:/data/${name}`]);
      expect(put.stderr).toBe("");
      expect(put.code).toBe(0);
      expect((await execIn("sha256sum", `/data/${name}`)).split(" ")[0]).toBe(sum);
    }
    const ls = await cli(["ls", "--via", "exec", `${POD}:/data`]);
    expect(ls.code).toBe(0);
    expect(Buffer.from(ls.stdout, "latin1").toString().split("\n").filter(Boolean).sort()).toEqual(
      ["-dash.bin", "a b.bin", "nön-ascii ✓.bin", "up.bin"].sort(),
    );
    const back = path.join(dir, "back.bin");
    const get = await cli(["get", "--via", "exec", `${POD}:/data/-dash.bin`, back]);
    expect(get.code).toBe(0);
    expect(
      createHash("sha256")
        .update(await readFile(back))
        .digest("hex"),
    ).toBe(sum);
    expect((await cli(["rm", "--via", "exec", `${POD}:/data/a b.bin`])).code).toBe(0);
    // find, not busybox ls, which prints non-ASCII bytes as "?"
    expect((await execIn("find", "/data", "-mindepth", "1")).split("\n").filter(Boolean).sort()).toEqual(
      ["/data/-dash.bin", "/data/nön-ascii ✓.bin", "/data/up.bin"].sort(),
    );
  }, 240_000);

  it("a user without pods/exec is refused by the API server, and the CLI says so in one line (exit 1)", async () => {
    const r = await cli(["ls", "--via", "exec", `${POD}:/data`], "looker");
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/403|[Ff]orbidden/);
  }, 120_000);
});
