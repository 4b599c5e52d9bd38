// podfiles sync on the real two-node cluster with only a kubeconfig (the agents listen on loopback
// and are reached through API-server tunnels): local → pod on node A, pod A → pod B across the
// nodes, pod B → local, and through exec (`--via exec`, times kept in whole seconds by touch). A
// second run sends nothing; a change sends only itself; --delete removes. sha256sum in the pods is
// the witness. bench/sync.mjs runs the bench case: sync of a 10,000-file tree with 1% changed
// against kubectl cp of the whole tree.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { until } from "../support/until.js";
import { runWithKubeconfig, untilAgentsAnswer } from "./support/kubeconfig-cli.js";
import { assertOwnNamespace, createSuiteNamespace, dataPod, deployAgents, type DeployedAgents } from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster } from "./support/cluster.js";

const NS = "sync-e2e";
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A tree of `files` files over `dirs` directories, sizes 0–`maxSize` bytes, a few odd names. */
async function writeTree(root: string, files: number, dirs: number, maxSize: number): Promise<void> {
  for (let d = 0; d < dirs; d++) await mkdir(path.join(root, `dir ${d}`, "é"), { recursive: true });
  for (let i = 0; i < files; i++) {
    const d = i % dirs;
    const where = i % 7 === 0 ? path.join(root, `dir ${d}`, "é") : path.join(root, `dir ${d}`);
    await writeFile(path.join(where, `${i % 11 === 0 ? "-" : ""}file ${i}.bin`), randomBytes(Math.floor(Math.random() * maxSize)));
  }
}

/** relative path → SHA-256 of every file below root. */
async function localHashes(root: string, rel = ""): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) Object.assign(out, await localHashes(root, r));
    else out[r] = sha(await readFile(path.join(root, r)));
  }
  return out;
}

describe.skipIf(!e2eEnabled)("podfiles sync between this machine and the two nodes' pods, with only a kubeconfig", () => {
  let cluster: Cluster;
  let agents: DeployedAgents | undefined;
  let dir = "";
  const pods = ["sync-a", "sync-b"] as const;
  const nonce = randomBytes(4).toString("hex");

  const execIn = (pod: string, ...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", pod, "-c", "main", "--", ...cmd], { timeoutMs: 300_000 });
  /** relative path → SHA-256 of every file below `root` in the pod (sha256sum there). */
  const podHashes = async (pod: string, root: string): Promise<Record<string, string>> => {
    const out = await execIn(pod, "sh", "-c", 'cd "$1" && find . -type f -exec sha256sum {} +', "sh", root);
    const hashes: Record<string, string> = {};
    for (const line of out.split("\n").filter(Boolean)) hashes[line.slice(66).replace(/^\.\//, "")] = line.slice(0, 64);
    return hashes;
  };

  const cli = (...args: string[]) => runWithKubeconfig({ kubeconfig: cluster.kubeconfig, home: dir, namespace: NS, timeoutMs: 600_000 }, args);
  const synced = async (...args: string[]) => {
    const r = await cli("sync", ...args);
    expect(r.code, r.stderr).toBe(0);
    return r.stdout.trim().split("\n").at(-1)!;
  };

  beforeAll(async () => {
    cluster = await ensureCluster();
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    dir = await mkdtemp(path.join(os.tmpdir(), "sync-e2e-"));
    agents = await deployAgents(cluster, `sync-${nonce}`, 180_000, { host: "127.0.0.1" });
    await createSuiteNamespace(cluster, NS, "sync");
    for (const [i, node] of cluster.nodes.map((n) => n.name).entries()) {
      await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(dataPod(NS, pods[i]!, node)) });
    }
    for (const pod of pods) await until(`${pod} running`, () => execIn(pod, "test", "-d", "/data").then(() => true), 180_000, 500);
    await untilAgentsAnswer((args) => cli(...args), pods, "/data");
  }, 15 * 60_000);

  afterAll(async () => {
    if (!cluster) return;
    await cluster
      .kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 })
      .catch((e) => console.error(e));
    await agents?.remove().catch((e) => console.error(e));
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 300_000);

  it("local → pod A, then only the changes (and --delete); pod A → pod B across the nodes; pod B → local", async () => {
    const [a, b] = pods;
    const src = path.join(dir, "src");
    await writeTree(src, 300, 6, 40_000);
    expect(await synced(src, `${a}:/data/tree`)).toMatch(/^sent 300 file\(s\) \(300 new/);
    expect(await podHashes(a, "/data/tree")).toEqual(await localHashes(src));
    expect(await synced(src, `${a}:/data/tree`)).toMatch(/^sent 0 file\(s\) .* 300 unchanged/);

    await writeFile(path.join(src, "dir 1/file 1.bin"), randomBytes(1234));
    await writeFile(path.join(src, "dir 2/é/new.txt"), "new");
    await rm(path.join(src, "dir 3/file 3.bin"));
    expect(await synced("--delete", src, `${a}:/data/tree`)).toMatch(/^sent 2 file\(s\) \(1 new, 1 changed, .* 1 removed, 298 unchanged/);
    expect(await podHashes(a, "/data/tree")).toEqual(await localHashes(src));

    const across = await cli("sync", "-v", `${a}:/data/tree`, `${b}:/data/copy`);
    expect(across.code, across.stderr).toBe(0);
    expect(across.stdout.split("\n").at(-2)).toMatch(/^sent 300 file\(s\)/);
    expect(await podHashes(b, "/data/copy")).toEqual(await localHashes(src));
    expect(await synced(`${a}:/data/tree`, `${b}:/data/copy`)).toMatch(/^sent 0 file\(s\) .* 300 unchanged/);

    const back = path.join(dir, "back");
    expect(await synced(`${b}:/data/copy`, back)).toMatch(/^sent 300 file\(s\)/);
    expect(await localHashes(back)).toEqual(await localHashes(src));
    // the times went with the files: the local copy's time is the source's, to the second
    const [s, t] = await Promise.all([stat(path.join(src, "dir 1/file 1.bin")), stat(path.join(back, "dir 1/file 1.bin"))]);
    expect(Math.floor(t.mtimeMs / 1000)).toBe(Math.floor(s.mtimeMs / 1000));
  }, 600_000);

  it("--via exec: the agentless way keeps whole-second times (touch), so a second run sends nothing", async () => {
    const [, b] = pods;
    const src = path.join(dir, "src-exec");
    await writeTree(src, 20, 2, 5000);
    expect(await synced("--via", "exec", src, `${b}:/data/exec-tree`)).toMatch(/^sent 20 file\(s\)/);
    expect(await podHashes(b, "/data/exec-tree")).toEqual(await localHashes(src));
    expect(await synced("--via", "exec", src, `${b}:/data/exec-tree`)).toMatch(/^sent 0 file\(s\) .* 20 unchanged/);
    const mtime = (await execIn(b, "stat", "-c", "%Y", "/data/exec-tree/dir 1/file 1.bin")).trim();
    expect(Number(mtime)).toBe(Math.floor((await stat(path.join(src, "dir 1/file 1.bin"))).mtimeMs / 1000));
  }, 300_000);

  // bench/sync.mjs runs this one (PODFILES_SYNC_BENCH=<result file>): 10,000 files (0–8 KiB), 1% changed,
  // `podfiles sync` against `kubectl cp` of the whole tree, interleaved, whole commands.
  it.runIf(!!process.env.PODFILES_SYNC_BENCH)(
    "bench: sync of a 10,000-file tree with 1% changed vs kubectl cp of the whole tree",
    async () => {
      const [a] = pods;
      const reps = Number(process.env.PODFILES_SYNC_BENCH_REPS ?? "3");
      const src = path.join(dir, "bench");
      await writeTree(src, 10_000, 100, 8192);
      const rows: { way: string; seconds: number; summary?: string }[] = [];
      // the first sync sends the whole tree: the same work as kubectl cp's, one row of its own
      const t0 = performance.now();
      const first = await synced(src, `${a}:/data/bench`);
      rows.push({ way: "podfiles sync (first, whole tree)", seconds: (performance.now() - t0) / 1000, summary: first });
      expect(first).toMatch(/^sent 10000 file/);
      const files: string[] = [];
      for (const f of await readdir(src, { recursive: true })) if ((await stat(path.join(src, f))).isFile()) files.push(f);
      for (let rep = 0; rep < reps; rep++) {
        // 1%: 100 files spread over the tree, new content of another size
        for (let i = 0; i < 100; i++) await writeFile(path.join(src, files[(i * 97 + rep * 13) % files.length]!), randomBytes(8193 + rep));
        let t = performance.now();
        const summary = await synced(src, `${a}:/data/bench`);
        rows.push({ way: "podfiles sync (1% changed)", seconds: (performance.now() - t) / 1000, summary });
        expect(summary).toMatch(/^sent 100 file\(s\) .* 9900 unchanged/);
        await execIn(a, "rm", "-rf", "/data/kubectl-cp");
        t = performance.now();
        await cluster.kubectl(["cp", "-c", "main", src, `${NS}/${a}:/data/kubectl-cp`], { timeoutMs: 600_000 });
        rows.push({ way: "kubectl cp (whole tree)", seconds: (performance.now() - t) / 1000 });
      }
      expect(await podHashes(a, "/data/bench")).toEqual(await podHashes(a, "/data/kubectl-cp"));
      const bytes = (await Promise.all((await readdir(src, { recursive: true })).map((f) => stat(path.join(src, f))))).reduce(
        (n, s) => n + (s.isFile() ? s.size : 0),
        0,
      );
      writeFileSync(process.env.PODFILES_SYNC_BENCH!, JSON.stringify({ files: 10_000, bytes, rows }));
    },
    60 * 60_000,
  );
});
