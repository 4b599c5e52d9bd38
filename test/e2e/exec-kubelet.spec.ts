// --exec-reads-via-kubelet on the real two-node cluster (seed 003): deploy/ with the
// deploy/exec-fallback/ and deploy/exec-kubelet/ components, the DaemonSet kept off node-b, and a
// busybox pod on node-b. Node A's agent serves it through ExecFs; its reads exec straight to
// node-b's kubelet (https://10.234.0.2:10250/exec/...), its writes through the API server.
// Witness that reads really take the kubelet route: with the nodes/proxy binding removed, a read
// fails with the kubelet's own refusal (naming nodes/proxy) while a write still succeeds; with the
// binding back, reads succeed again.
import { createHash, randomBytes } from "node:crypto";
import { Code, type Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadAll, uploadAll } from "../support/files.js";
import { fileClients } from "../support/server.js";
import { codeAndMessage } from "../support/status.js";
import {
  AGENT_NS,
  assertOwnNamespace,
  createSuiteNamespace,
  type DeployedAgents,
  deployAgents,
  keepAgentsOnlyOn,
  roleToken,
  dataPod,
} from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster } from "./support/cluster.js";

const NS = "kubelet-exec-e2e";
const POD = "bare-b";
const POD_A = "with-agent-a";
const BINDING = "podfiles-agent-kubelet-exec";
const twoNodes = (process.env.PODFILES_NODES ?? "2") !== "1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!e2eEnabled || !twoNodes)("agent --exec-reads-via-kubelet: the exec fallback's reads go to the pod's kubelet", () => {
  let cluster: Cluster;
  let agents: DeployedAgents;
  let writer = "";
  let binding = "";
  const nonce = randomBytes(6).toString("hex");
  const ref = { namespace: NS, pod: POD, container: "main" };
  const exec = (...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", POD, "-c", "main", "--", ...cmd], { timeoutMs: 120_000 });
  const withToken = (token: string): Interceptor[] => [
    (next) => (req) => {
      req.header.set("Authorization", `Bearer ${token}`);
      return next(req);
    },
  ];
  const clientOnA = () => fileClients(agents.urlOf("localhost"), withToken(writer)).grpc;

  beforeAll(async () => {
    cluster = await ensureCluster();
    expect(cluster.nodes.map((n) => n.name)).toEqual(["localhost", "node-b"]);
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    agents = await deployAgents(cluster, nonce, 120_000, { execFallback: true, execReadsViaKubelet: true });
    binding = await cluster.kubectl(["get", "clusterrolebinding", BINDING, "-o", "json"]);
    await createSuiteNamespace(cluster, NS, "exec-kubelet");
    const pod = dataPod(NS, POD, "node-b");
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(dataPod(NS, POD_A, "localhost")) });
    writer = await roleToken(cluster, NS, "writer", ["get", "create", "update", "delete"]);
    await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", `pod/${POD}`, `pod/${POD_A}`, "--timeout=120s"], { timeoutMs: 130_000 });
    await keepAgentsOnlyOn(cluster, agents, "localhost");
  }, 400_000);

  afterAll(async () => {
    if (!cluster) return;
    await Promise.all([
      agents?.remove(),
      cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 }),
    ]);
    expect((await cluster.kubectl(["get", "clusterrole,clusterrolebinding", BINDING, "--ignore-not-found", "-o", "name"])).trim()).toBe("");
  }, 200_000);

  it("without nodes/proxy a read is refused by the kubelet itself (naming nodes/proxy); with the binding back, reads work again", async () => {
    await exec("sh", "-c", "printf 'seeded by kubectl' > /data/seed.txt");
    await cluster.kubectl(["delete", "clusterrolebinding", BINDING]);
    try {
      // the kubelet caches an authorization for 5 minutes and a refusal for 30 s: this is its first review
      const [code, message] = await codeAndMessage(downloadAll(clientOnA(), ref, "/data/seed.txt"));
      expect(code).toBe(Code.Unavailable);
      expect(message).toContain("refused by the kubelet at https://10.234.0.2:10250 (HTTP 403)");
      expect(message).toContain("resource=nodes, subresource(s)=[proxy]");
    } finally {
      const b = JSON.parse(binding) as { metadata: Record<string, unknown> };
      b.metadata = { name: BINDING, labels: b.metadata.labels };
      await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(b) });
    }
    // the refusal stays cached by the kubelet for up to 30 s
    let last: unknown;
    for (const deadline = Date.now() + 90_000; Date.now() < deadline; await sleep(3000)) {
      try {
        const got = await downloadAll(clientOnA(), ref, "/data/seed.txt");
        expect(Buffer.from(got.data).toString()).toBe("seeded by kubectl");
        last = undefined;
        break;
      } catch (err) {
        last = err;
      }
    }
    if (last) throw last;
  }, 240_000);

  it("writes go through the API server (v5: stdin can end): an upload lands, sha256sum in the pod agrees", async () => {
    const data = randomBytes(512 * 1024 + 3);
    await uploadAll(clientOnA(), ref, "/data/up.bin", data);
    expect((await exec("sha256sum", "/data/up.bin")).split(" ")[0]).toBe(createHash("sha256").update(data).digest("hex"));
  }, 120_000);

  it("a 16 MiB download through the kubelet matches sha256sum in the pod; the agent says reads go via the kubelet", async () => {
    await exec("sh", "-c", "head -c 16777216 /dev/urandom > /data/big");
    const want = (await exec("sha256sum", "/data/big")).split(" ")[0];
    const got = await downloadAll(clientOnA(), ref, "/data/big");
    expect(createHash("sha256").update(got.data).digest("hex")).toBe(want);
    const pods = JSON.parse(await cluster.kubectl(["-n", AGENT_NS, "get", "pods", "-l", "app.kubernetes.io/component=agent", "-o", "json"])) as {
      items: { metadata: { name: string }; spec: { nodeName: string } }[];
    };
    const a = pods.items.find((p) => p.spec.nodeName === "localhost")!;
    expect(await cluster.kubectl(["-n", AGENT_NS, "logs", a.metadata.name])).toMatch(
      /"execFallback":"on \(pods on nodes without a ready agent: pods\/exec to their kubelets for reads/,
    );
  }, 180_000);

  it("Copy with ExecFs on either side: node A's pod → the agentless node-b pod (written through exec), and back (read through the kubelet)", async () => {
    const execA = (...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", POD_A, "-c", "main", "--", ...cmd], { timeoutMs: 120_000 });
    await execA("sh", "-c", "head -c 5242883 /dev/urandom > /data/from-a.bin");
    const want = (await execA("sha256sum", "/data/from-a.bin")).split(" ")[0];
    const c = clientOnA();
    const refA = { namespace: NS, pod: POD_A, container: "main" };
    const results = async (req: object) => {
      const got: { case?: string }[] = [];
      for await (const m of c.copy(req as never)) got.push(m.part as { case?: string });
      return got;
    };
    const there = await results({ container: refA, path: "/data/from-a.bin", destination: ref, destinationPath: "/data/to-b.bin" });
    expect(there.at(-1)?.case).toBe("result");
    expect((await exec("sha256sum", "/data/to-b.bin")).split(" ")[0]).toBe(want);
    const back = await results({ container: ref, path: "/data/to-b.bin", destination: refA, destinationPath: "/data/back-on-a.bin" });
    expect(back.at(-1)?.case).toBe("result");
    expect((await execA("sha256sum", "/data/back-on-a.bin")).split(" ")[0]).toBe(want);
  }, 180_000);
});
