// Copy between pods on the real two-node cluster: the source pod on localhost in one namespace,
// the destination on node-b in another. The source's agent reads the files and streams them to
// node-b's agent, which authorizes the caller itself and writes; nothing passes through the test
// process. Witnesses: sha256sum (and find) inside the destination pod, by kubectl exec.
import { randomBytes } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createPodfilesClient, type PodfilesClient } from "../../src/index.js";
import { AGENT_NS, assertOwnNamespace, createSuiteNamespace, deployAgents, roleToken, type DeployedAgents, dataPod } from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster } from "./support/cluster.js";

const SRC_NS = "copy-e2e-src";
const DST_NS = "copy-e2e-dst";
const twoNodes = (process.env.PODFILES_NODES ?? "2") !== "1";
const BIG = 256 * 1024 * 1024;

describe.skipIf(!e2eEnabled || !twoNodes)("Copy between pods on two nodes and in two namespaces", () => {
  let cluster: Cluster;
  let agents: DeployedAgents;
  let copier = "";
  let readOnly = "";
  const nonce = randomBytes(6).toString("hex");
  const src = { namespace: SRC_NS, pod: "source", container: "main" };
  const dst = { namespace: DST_NS, pod: "destination", container: "main" };
  const exec = (ns: string, pod: string, script: string) =>
    cluster.kubectl(["-n", ns, "exec", pod, "-c", "main", "--", "sh", "-c", script], { timeoutMs: 300_000 });
  const inSource = (script: string) => exec(SRC_NS, "source", script);
  const inDestination = (script: string) => exec(DST_NS, "destination", script);
  const client = (node: string, token: string): PodfilesClient => createPodfilesClient({ baseUrl: agents.urlOf(node), token });
  /** A tree's files as `sha256sum` lists them, sorted: equal lists mean equal names and bytes. */
  const treeSums = (run: (s: string) => Promise<string>, dir: string) => run(`cd ${dir} && find . -type f | sort | xargs sha256sum`);

  beforeAll(async () => {
    cluster = await ensureCluster();
    expect(cluster.nodes.map((n) => n.name)).toEqual(["localhost", "node-b"]);
    for (const ns of [SRC_NS, DST_NS]) {
      await assertOwnNamespace(cluster, ns);
      await cluster.kubectl(["delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    }
    agents = await deployAgents(cluster, nonce);
    await createSuiteNamespace(cluster, SRC_NS, "copy");
    await createSuiteNamespace(cluster, DST_NS, "copy");
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(dataPod(SRC_NS, "source", "localhost")) });
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(dataPod(DST_NS, "destination", "node-b")) });
    // copier: get in the source namespace, create in the destination's; read-only: get in the source's only
    copier = await roleToken(cluster, SRC_NS, "copier", ["get"]);
    readOnly = await roleToken(cluster, SRC_NS, "read-only", ["get"]);
    const rbac = [
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "copy-in", namespace: DST_NS },
        rules: [{ apiGroups: ["podfiles.io"], resources: ["containerfiles"], verbs: ["get", "create"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "copy-in", namespace: DST_NS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "copy-in" },
        subjects: [{ kind: "ServiceAccount", name: "copier", namespace: SRC_NS }],
      },
    ];
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: rbac }) });
    for (const [ns, name] of [
      [SRC_NS, "source"],
      [DST_NS, "destination"],
    ])
      await cluster.kubectl(["-n", ns!, "wait", "--for=condition=Ready", `pod/${name}`, "--timeout=120s"], { timeoutMs: 130_000 });
    await inSource(`head -c ${BIG} /dev/urandom > /data/big.bin`);
    await inSource(
      "i=0; while [ $i -lt 1000 ]; do d=/data/tree/d$((i % 10))/e$((i % 7)); mkdir -p $d; head -c $((i * 37 + 1)) /dev/urandom > $d/f$i; i=$((i + 1)); done",
    );
  }, 400_000);

  afterAll(async () => {
    if (!cluster) return;
    await Promise.all([
      agents?.remove(),
      ...[SRC_NS, DST_NS].map((ns) =>
        cluster.kubectl(["delete", "namespace", ns, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 }),
      ),
    ]);
    expect((await cluster.kubectl(["get", "namespace", AGENT_NS, SRC_NS, DST_NS, "--ignore-not-found", "-o", "name"])).trim()).toBe("");
  }, 200_000);

  it("a 256 MiB file, localhost → node-b: sha256sum in the destination pod is the source's and the digest Copy reported", async () => {
    const want = (await inSource("sha256sum /data/big.bin")).split(" ")[0];
    const progress: number[] = [];
    const started = performance.now();
    const r = await client("localhost", copier).copy(
      { container: src, path: "/data/big.bin" },
      { container: dst, path: "/data/big.bin" },
      {
        onProgress: (p) => progress.push(p.bytes),
      },
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`copy 256 MiB localhost → node-b: ${seconds.toFixed(2)} s, ${(256 / seconds).toFixed(1)} MiB/s, ${progress.length} progress calls`);
    expect(r.bytes).toBe(BIG);
    expect(r.digest).toBe(want);
    expect((await inDestination("sha256sum /data/big.bin")).split(" ")[0]).toBe(want);
    // the source's agent served it and wrote to node-b's (which logged the Upload from its peer)
    const logs = await cluster.kubectl(["-n", AGENT_NS, "logs", agents.pods["node-b"]!]);
    expect(logs).toMatch(/"method":"podfiles\.v1\.FileService\/Upload"/);
  }, 300_000);

  it("a 1,000-file tree, asked of node-b's agent (forwarded to the source's, which writes back to node-b)", async () => {
    const r = await client("node-b", copier).copy({ container: src, path: "/data/tree" }, { container: dst, path: "/data/copied/tree" }, { makeParents: true });
    expect(r.entries).toBeGreaterThanOrEqual(1000);
    expect((await inDestination("find /data/copied/tree -type f | wc -l")).trim()).toBe("1000");
    const want = await treeSums(inSource, "/data/tree");
    expect(want.split("\n").filter(Boolean).length).toBe(1000);
    expect(await treeSums(inDestination, "/data/copied/tree")).toBe(want);
    expect(await inDestination("ls -a /data/copied")).toBe(".\n..\ntree\n");
  }, 300_000);

  it("a cancelled copy leaves nothing at the destination (neither the file nor a temp file)", async () => {
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 150);
    const copying = client("localhost", copier).copy(
      { container: src, path: "/data/big.bin" },
      { container: dst, path: "/data/cancelled.bin" },
      { signal: stop.signal },
    );
    await expect(copying).rejects.toMatchObject({ code: Code.Canceled });
    // node-b's agent learns of it from its request stream: a moment to remove the temp file
    let listing = "";
    for (let i = 0; i < 20; i++) {
      listing = await inDestination("ls -a /data");
      if (!/podfiles-/.test(listing)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(listing.split("\n").filter(Boolean).sort()).toEqual([".", "..", "big.bin", "copied"]);
  }, 120_000);

  it("read on the source but no create on the destination: PERMISSION_DENIED, nothing written", async () => {
    const copying = client("localhost", readOnly).copy({ container: src, path: "/data/big.bin" }, { container: dst, path: "/data/denied.bin" });
    await expect(copying).rejects.toMatchObject({ code: Code.PermissionDenied });
    expect(await inDestination("test -e /data/denied.bin && echo there || echo absent")).toBe("absent\n");
  }, 60_000);

  // bench/copy.mjs runs this one (PODFILES_COPY_BENCH=<result file>): Copy against the seed-002 way,
  // `kubectl cp` out of the source pod to this machine and back into the destination pod, same
  // file, same run, interleaved; each copy checked with sha256sum in the destination pod (untimed)
  it.runIf(!!process.env.PODFILES_COPY_BENCH)(
    "bench: Copy vs kubectl cp to here and back, 256 MiB localhost → node-b",
    async () => {
      const reps = Number(process.env.PODFILES_COPY_BENCH_REPS ?? "2");
      const want = (await inSource("sha256sum /data/big.bin")).split(" ")[0];
      const local = `/dev/shm/podfiles-copy-bench-${nonce}.bin`;
      const rows: { way: string; seconds: number }[] = [];
      const timed = async (way: string, fn: () => Promise<unknown>, path: string) => {
        const t = performance.now();
        await fn();
        const seconds = (performance.now() - t) / 1000;
        expect((await inDestination(`sha256sum ${path}`)).split(" ")[0]).toBe(want);
        await inDestination(`rm -f ${path}`);
        rows.push({ way, seconds });
        console.log(`${way}: ${seconds.toFixed(2)} s, ${(256 / seconds).toFixed(1)} MiB/s`);
      };
      try {
        for (let i = 0; i < reps; i++) {
          const ways = [
            () =>
              timed(
                "copy",
                () => client("localhost", copier).copy({ container: src, path: "/data/big.bin" }, { container: dst, path: "/data/bench.bin" }),
                "/data/bench.bin",
              ),
            () =>
              timed(
                "kubectl cp out and back",
                async () => {
                  await cluster.kubectl(["cp", "-c", "main", `${SRC_NS}/source:/data/big.bin`, local], { timeoutMs: 300_000 });
                  await cluster.kubectl(["cp", "-c", "main", local, `${DST_NS}/destination:/data/bench.bin`], { timeoutMs: 300_000 });
                },
                "/data/bench.bin",
              ),
          ];
          for (const run of i % 2 ? ways.reverse() : ways) await run();
          rmSync(local, { force: true });
        }
      } finally {
        rmSync(local, { force: true });
      }
      writeFileSync(process.env.PODFILES_COPY_BENCH!, JSON.stringify({ sizeMiB: 256, rows }));
    },
    900_000,
  );
});
