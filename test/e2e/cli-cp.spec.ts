// podfiles cp, cat and completion on the real two-node cluster with only a kubeconfig (the admin's:
// a client certificate, which deploy/'s agents accept): local → pod on node A, pod A → pod B across
// the nodes (streamed through the CLI while the agents answer Copy UNIMPLEMENTED), pod B → local,
// a tree pod → pod, remote wildcards, and `kubectl podfiles`. sha256sum in the pods is the witness.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/until.js";
import { runWithKubeconfig, untilAgentsAnswer } from "./support/kubeconfig-cli.js";
import { assertOwnNamespace, createSuiteNamespace, deployAgents, nodeNamingPod, type DeployedAgents } from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster, repoRoot } from "./support/cluster.js";

const NS = "cli-cp-e2e";
const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

describe.skipIf(!e2eEnabled)("podfiles cp between the two nodes' pods, with only a kubeconfig", () => {
  let cluster: Cluster;
  let agents: DeployedAgents | undefined;
  let dir = "";
  let binDir = "";
  const pods: string[] = [];
  const nonce = randomBytes(4).toString("hex");

  const execIn = (pod: string, ...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", pod, "-c", "main", "--", ...cmd], { timeoutMs: 120_000 });
  const shaIn = async (pod: string, file: string) => (await execIn(pod, "sha256sum", file)).split(" ")[0];

  const run = (file: string, args: string[]) => runWithKubeconfig({ kubeconfig: cluster.kubeconfig, home: dir, namespace: NS, pathPrefix: binDir }, args, file);
  const cli = (...args: string[]) => runWithKubeconfig({ kubeconfig: cluster.kubeconfig, home: dir, namespace: NS, pathPrefix: binDir }, args);

  beforeAll(async () => {
    cluster = await ensureCluster();
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    dir = await mkdtemp(path.join(os.tmpdir(), "cli-cp-e2e-"));
    binDir = await mkdtemp(path.join(os.tmpdir(), "cli-cp-e2e-bin-"));
    await symlink(path.join(repoRoot, "bin/kubectl-podfiles.js"), path.join(binDir, "kubectl-podfiles"));
    agents = await deployAgents(cluster, `cli-cp-${nonce}`, 180_000, { host: "127.0.0.1" });
    await createSuiteNamespace(cluster, NS, "cli-cp");
    for (const [i, node] of cluster.nodes.map((n) => n.name).entries()) {
      const name = `cp-${i === 0 ? "a" : "b"}`;
      pods.push(name);
      await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(nodeNamingPod(NS, name, node)) });
    }
    for (const pod of pods) await until(`${pod} running`, () => execIn(pod, "test", "-e", "/tmp/node").then(() => true), 180_000, 500);
    await untilAgentsAnswer((args) => cli(...args), pods, "/tmp");
  }, 15 * 60_000);

  afterAll(async () => {
    if (!cluster) return;
    await cluster
      .kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 })
      .catch((e) => console.error(e));
    await agents?.remove().catch((e) => console.error(e));
    for (const d of [dir, binDir]) if (d) await rm(d, { recursive: true, force: true });
  }, 300_000);

  it("local → pod A → pod B (across the nodes) → local, checked by sha256sum in each pod", async () => {
    const [a, b] = pods as [string, string];
    const data = randomBytes(48 * MiB + 5);
    await writeFile(path.join(dir, "data.bin"), data);
    const up = await cli("cp", "data.bin", `${a}:/tmp/`);
    expect(up.code, up.stderr).toBe(0);
    expect(await shaIn(a, "/tmp/data.bin")).toBe(sha(data));
    const t0 = Date.now();
    const across = await cli("cp", "-v", `${a}:/tmp/data.bin`, `${NS}/${b}:main:/tmp/data.bin`);
    const ms = Date.now() - t0;
    expect(across.code, across.stderr).toBe(0);
    expect(across.stdout).toMatch(/streamed|Copy RPC/);
    expect(await shaIn(b, "/tmp/data.bin")).toBe(sha(data));
    console.log(`[e2e cli-cp] cp 48 MiB pod A → pod B (${across.stdout.trim().replace(/^.*\(/, "(")}): ${ms} ms (whole command)`);
    const down = await cli("cp", `${b}:/tmp/data.bin`, "back.bin");
    expect(down.code, down.stderr).toBe(0);
    expect(sha(await readFile(path.join(dir, "back.bin")))).toBe(sha(data));
  }, 300_000);

  it("a tree pod → pod, and wildcards matched on the pod's listing", async () => {
    const [a, b] = pods as [string, string];
    await execIn(a, "sh", "-c", "mkdir -p /tmp/tree/sub && echo one > /tmp/tree/sub/1.log && echo two > /tmp/tree/2.log && echo x > /tmp/tree/x.txt");
    const tree = await cli("cp", `${a}:/tmp/tree`, `${b}:/tmp/tree-copy`);
    expect(tree.code, tree.stderr).toBe(0);
    expect((await execIn(b, "cat", "/tmp/tree-copy/sub/1.log")).trim()).toBe("one");
    const logs = path.join(dir, "logs");
    const glob = await cli("cp", "-p", `${b}:/tmp/tree-copy/*.log`, `${logs}/`);
    expect(glob.code, glob.stderr).toBe(0);
    expect(await readdir(logs)).toEqual(["2.log"]);
  }, 300_000);

  it("kubectl podfiles runs the plugin (cat), and completion lists a pod's directory through the tunnel", async () => {
    const [a] = pods as [string];
    const cat = await run(path.join(cluster.binDir, "kubectl"), ["podfiles", "cat", `${a}:/tmp/node`]);
    expect(cat.code, cat.stderr).toBe(0);
    expect(cat.stdout.trim()).toBe(cluster.nodes[0]!.name);
    const comp = await cli("__complete", "ls", `${a}:/tmp/tr`);
    expect(comp.stdout).toBe(`${a}:/tmp/tree/\n`);
  }, 120_000);
});
