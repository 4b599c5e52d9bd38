// The CLI and the SDK with ONLY a kubeconfig, on the real two-node cluster: no --server, no network path
// to the agents — every call goes through the API server (pods/portforward) to the agent on the pod's
// node. The kubeconfig holds the bearer token of a ServiceAccount bound by exactly the Roles of
// deploy/rbac-examples/kubeconfig-tunnel.yaml (team-a rewritten to this suite's namespace, the subject to the ServiceAccount); a second
// ServiceAccount lacks pods/portforward. The agents are deploy/ through test/e2e/overlay, listening on
// 127.0.0.1 inside their node (agent-deploy.ts explains why). kubectl exec (sha256sum, cat) is the
// outside witness. Everything created is deleted again.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import yaml from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectWithKubeconfig, type KubeconfigClient } from "../../src/client/kube-client.js";
import { Code, PodfilesError } from "../../src/client/errors.js";
import { until } from "../support/until.js";
import { startNoWebSocketProxy } from "./support/no-websocket-proxy.js";
import { AGENT_NS, createSuiteNamespace, assertOwnNamespace, deployAgents, waitAgentsReady, type DeployedAgents } from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster, repoRoot } from "./support/cluster.js";

const NS = "tunnel-e2e";
const MiB = 1024 * 1024;
const BIG = 256 * MiB;
const bin = path.join(repoRoot, "bin/podfiles.js");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!e2eEnabled)("podfiles with only a kubeconfig (API-server tunnels, both nodes)", () => {
  let cluster: Cluster;
  let agents: DeployedAgents | undefined;
  let dir = "";
  let userKubeconfig = "";
  let noForwardKubeconfig = "";
  const pods: Record<string, string> = {}; // node → pod
  const nonce = randomBytes(4).toString("hex");

  const execIn = (pod: string, ...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", pod, "-c", "main", "--", ...cmd], { timeoutMs: 120_000 });

  /** bin/podfiles.js as a whole process, with no server in its environment and an empty HOME. */
  const cli = (args: string[], kubeconfig = userKubeconfig, timeoutMs = 120_000, extraEnv: NodeJS.ProcessEnv = {}) =>
    new Promise<Run>((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: dir, KUBECONFIG: kubeconfig, ...extraEnv };
      delete env.PODFILES_SERVER;
      delete env.PODFILES_TOKEN;
      delete env.PODFILES_NAMESPACE;
      execFile(process.execPath, [bin, ...args], { env, timeout: timeoutMs, maxBuffer: 16 * MiB }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  async function kubeconfigFor(sa: string, file: string): Promise<void> {
    const admin = JSON.parse(await cluster.kubectl(["config", "view", "--minify", "--raw", "-o", "json"]));
    const token = (await cluster.kubectl(["-n", NS, "create", "token", sa, "--duration=30m"])).trim();
    const kc = {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "e2e", cluster: admin.clusters[0].cluster }],
      users: [{ name: sa, user: { token } }],
      // the context's namespace: paths without one use it
      contexts: [{ name: "e2e", context: { cluster: "e2e", user: sa, namespace: NS } }],
      "current-context": "e2e",
    };
    await writeFile(file, JSON.stringify(kc), { mode: 0o600 });
  }

  async function cleanup(): Promise<void> {
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    // the Roles in the agents' namespace go with it (agents.remove())
  }

  beforeAll(async () => {
    cluster = await ensureCluster();
    await assertOwnNamespace(cluster, NS);
    await cleanup();
    dir = await mkdtemp(path.join(os.tmpdir(), "tunnel-e2e-"));
    agents = await deployAgents(cluster, `tunnel-${nonce}`, 180_000, { host: "127.0.0.1" });

    await createSuiteNamespace(cluster, NS, "tunnel");
    // one pod per node, with a file each and a 256 MiB file on node B
    for (const [i, node] of cluster.nodes.map((n) => n.name).entries()) {
      const name = `files-${i === 0 ? "a" : "b"}`;
      pods[node] = name;
      const script = [
        `echo "hello from ${node}" > /data/hello.txt`,
        ...(i === 1 ? [`head -c ${BIG} /dev/urandom > /data/big.bin`] : []),
        "touch /data/.ready",
        'trap "exit 0" TERM; while true; do sleep 1; done',
      ].join("; ");
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: NS },
        spec: {
          nodeName: node,
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: "main",
              image: "localhost/podfiles-busybox:1",
              imagePullPolicy: "Never",
              command: ["sh", "-c", script],
              volumeMounts: [{ name: "data", mountPath: "/data" }],
            },
          ],
          volumes: [{ name: "data", emptyDir: {} }],
        },
      };
      await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
    }
    for (const pod of Object.values(pods)) {
      await until(`${pod} ready`, () => execIn(pod, "test", "-e", "/data/.ready").then(() => true), 180_000, 500);
      await until(
        `${pod}'s container reported running`,
        async () => {
          const p = JSON.parse(await cluster.kubectl(["-n", NS, "get", "pod", pod, "-o", "json"]));
          return p.status?.containerStatuses?.[0]?.state?.running && p.status.containerStatuses[0].containerID ? true : undefined;
        },
        120_000,
      );
    }

    // the users: the documented Roles for one, the same without pods/portforward for the other
    await cluster.kubectl(["create", "serviceaccount", "-n", NS, "tunnel-user"]);
    await cluster.kubectl(["create", "serviceaccount", "-n", NS, "no-forward"]);
    const text = await readFile(path.join(repoRoot, "deploy/rbac-examples/kubeconfig-tunnel.yaml"), "utf8");
    const docs = (yaml.loadAll(text) as { kind: string; metadata: { namespace: string }; subjects?: unknown[] }[]).map((d) => {
      if (d.metadata.namespace === "team-a") d.metadata.namespace = NS;
      if (d.subjects) d.subjects = [{ kind: "ServiceAccount", name: "tunnel-user", namespace: NS }];
      return d;
    });
    expect(docs.map((d) => d.metadata.namespace).sort()).toEqual([AGENT_NS, AGENT_NS, NS, NS]);
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: docs }) });
    // no-forward: the pod-namespace Role and list pods in the agents' namespace, no pods/portforward
    await cluster.kubectl(["-n", NS, "create", "rolebinding", "no-forward", "--role=podfiles-kubeconfig-user", `--serviceaccount=${NS}:no-forward`]);
    await cluster.kubectl(["-n", AGENT_NS, "create", "role", "no-forward-list", "--verb=list", "--resource=pods"]);
    await cluster.kubectl(["-n", AGENT_NS, "create", "rolebinding", "no-forward-list", "--role=no-forward-list", `--serviceaccount=${NS}:no-forward`]);

    userKubeconfig = path.join(dir, "user.kubeconfig");
    noForwardKubeconfig = path.join(dir, "no-forward.kubeconfig");
    await kubeconfigFor("tunnel-user", userKubeconfig);
    await kubeconfigFor("no-forward", noForwardKubeconfig);
    // node B's agent answers through a tunnel once it listens (Ready comes at container start)
    await until(
      "the agents answer through tunnels",
      async () => {
        for (const pod of Object.values(pods)) if ((await cli(["ls", `${pod}:/data`])).code !== 0) return undefined;
        return true;
      },
      120_000,
      1000,
    );
  }, 15 * 60_000);

  afterAll(async () => {
    if (!cluster) return;
    await cleanup().catch((e) => console.error(e));
    await agents?.remove().catch((e) => console.error(e));
    if (dir) await rm(dir, { recursive: true, force: true });
  }, 300_000);

  it("ls, get and put in pods on both nodes with no --server (paths without a namespace take the context's)", async () => {
    for (const [node, pod] of Object.entries(pods)) {
      const ls = await cli(["ls", "-l", `${pod}:/data`]);
      expect(ls.stderr).toBe("");
      expect(ls.stdout).toContain("hello.txt");
      const local = path.join(dir, `hello-${pod}.txt`);
      const get = await cli(["get", `${NS}/${pod}:/data/hello.txt`, local]);
      expect(get.code, get.stderr).toBe(0);
      expect(await readFile(local, "utf8")).toBe(`hello from ${node}\n`);
      const up = path.join(dir, `up-${pod}.bin`);
      const bytes = randomBytes(3 * MiB + 17);
      await writeFile(up, bytes);
      const put = await cli(["put", "-n", NS, up, `${pod}:/data/up.bin`]);
      expect(put.code, put.stderr).toBe(0);
      expect((await execIn(pod, "sha256sum", "/data/up.bin")).split(" ")[0]).toBe(createHash("sha256").update(bytes).digest("hex"));
    }
  });

  it("a 256 MiB get from node B's pod matches sha256sum in the pod", async () => {
    const pod = pods[cluster.nodes[1]!.name]!;
    const local = path.join(dir, "big.bin");
    const t0 = Date.now();
    const get = await cli(["get", `${pod}:/data/big.bin`, local], userKubeconfig, 300_000);
    const ms = Date.now() - t0;
    expect(get.code, get.stderr).toBe(0);
    const h = createHash("sha256");
    for await (const c of createReadStream(local)) h.update(c as Buffer);
    expect(h.digest("hex")).toBe((await execIn(pod, "sha256sum", "/data/big.bin")).split(" ")[0]);
    console.log(`[e2e kubeconfig] podfiles get 256 MiB via tunnel (node B): ${ms} ms, ${(BIG / MiB / (ms / 1000)).toFixed(0)} MiB/s (whole command)`);
    await rm(local);
  }, 360_000);

  it("over SPDY, kubectl's protocol (PODFILES_TUNNEL_PROTOCOL=spdy): ls, get and put on both nodes; 256 MiB from node B through the SDK matches sha256sum", async () => {
    const spdy = { PODFILES_TUNNEL_PROTOCOL: "spdy" };
    for (const [node, pod] of Object.entries(pods)) {
      const ls = await cli(["ls", `${pod}:/data`], userKubeconfig, 120_000, spdy);
      expect(ls.code, ls.stderr).toBe(0);
      expect(ls.stdout).toContain("hello.txt");
      const local = path.join(dir, `spdy-hello-${pod}.txt`);
      const get = await cli(["get", `${pod}:/data/hello.txt`, local], userKubeconfig, 120_000, spdy);
      expect(get.code, get.stderr).toBe(0);
      expect(await readFile(local, "utf8")).toBe(`hello from ${node}\n`);
      const up = path.join(dir, `spdy-up-${pod}.bin`);
      const bytes = randomBytes(5 * MiB + 3);
      await writeFile(up, bytes);
      const put = await cli(["put", up, `${pod}:/data/spdy-up.bin`], userKubeconfig, 120_000, spdy);
      expect(put.code, put.stderr).toBe(0);
      expect((await execIn(pod, "sha256sum", "/data/spdy-up.bin")).split(" ")[0]).toBe(createHash("sha256").update(bytes).digest("hex"));
      // a certificate-only user: TLS inside the SPDY tunnel
      const certLs = await cli(["ls", `${NS}/${pod}:/data`], cluster.kubeconfig, 120_000, spdy);
      expect(certLs.code, certLs.stderr).toBe(0);
      expect(certLs.stdout).toContain("spdy-up.bin");
    }
    const bad = await cli(["ls", `${pods[cluster.nodes[0]!.name]}:/data`], userKubeconfig, 30_000, { PODFILES_TUNNEL_PROTOCOL: "http3" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("PODFILES_TUNNEL_PROTOCOL=http3: use auto, websocket or spdy");

    const pod = pods[cluster.nodes[1]!.name]!;
    const client = await connectWithKubeconfig({ kubeconfig: userKubeconfig, tunnelProtocol: "spdy" });
    try {
      const h = createHash("sha256");
      let bytes = 0;
      const t0 = Date.now();
      for await (const c of client.download({ container: { namespace: NS, pod }, path: "/data/big.bin" })) {
        h.update(c);
        bytes += c.length;
      }
      const ms = Date.now() - t0;
      expect(bytes).toBe(BIG);
      expect(h.digest("hex")).toBe((await execIn(pod, "sha256sum", "/data/big.bin")).split(" ")[0]);
      console.log(`[e2e kubeconfig] SDK download 256 MiB via SPDY tunnel (node B): ${ms} ms, ${(BIG / MiB / (ms / 1000)).toFixed(0)} MiB/s`);
    } finally {
      client.close();
    }
  }, 360_000);

  it("an API server that refuses WebSocket port-forward (a STAND-IN proxy before the real one): the CLI and the SDK fall back to SPDY, as kubectl does", async () => {
    const admin = JSON.parse(await cluster.kubectl(["config", "view", "--minify", "--raw", "-o", "json"]));
    const real = admin.clusters[0].cluster as { server: string; "certificate-authority-data"?: string; "certificate-authority"?: string };
    const realCa = real["certificate-authority-data"]
      ? Buffer.from(real["certificate-authority-data"], "base64")
      : real["certificate-authority"]
        ? await readFile(real["certificate-authority"])
        : undefined;
    const proxy = await startNoWebSocketProxy(new URL(real.server), realCa);
    try {
      const kc = JSON.parse(await readFile(userKubeconfig, "utf8"));
      kc.clusters[0].cluster = { server: proxy.url, "certificate-authority-data": Buffer.from(proxy.caPem).toString("base64") };
      const viaProxy = path.join(dir, "no-websocket.kubeconfig");
      await writeFile(viaProxy, JSON.stringify(kc), { mode: 0o600 });

      for (const [node, pod] of Object.entries(pods)) {
        const refusedBefore = proxy.webSocketRefused;
        const spdyBefore = proxy.spdyUpgrades;
        const local = path.join(dir, `fallback-hello-${pod}.txt`);
        const get = await cli(["get", `${pod}:/data/hello.txt`, local], viaProxy);
        expect(get.code, get.stderr).toBe(0);
        expect(await readFile(local, "utf8")).toBe(`hello from ${node}\n`);
        // one WebSocket attempt refused, then SPDY
        expect(proxy.webSocketRefused - refusedBefore).toBe(1);
        expect(proxy.spdyUpgrades - spdyBefore).toBeGreaterThanOrEqual(1);
      }
      // the first call of a process (the one that falls back) keeps its own error
      const missing = await cli(["stat", `${pods[cluster.nodes[0]!.name]}:/data/no-such-file`], viaProxy);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^podfiles: NOT_FOUND: /);
      // forcing WebSocket through the same proxy fails with the API server's answer
      const forced = await cli(["ls", `${pods[cluster.nodes[0]!.name]}:/data`], viaProxy, 60_000, { PODFILES_TUNNEL_PROTOCOL: "websocket" });
      expect(forced.code).toBe(1);
      expect(forced.stderr).toMatch(/^podfiles: UNAVAILABLE: cannot open a tunnel to agent pod .*WebSocket port-forward is not offered here/);

      // one SDK client: the first tunnel learns, the second node's tunnel goes to SPDY at once
      const client = await connectWithKubeconfig({ kubeconfig: viaProxy });
      try {
        const refusedBefore = proxy.webSocketRefused;
        for (const pod of Object.values(pods)) {
          const names: string[] = [];
          for await (const e of client.list({ container: { namespace: NS, pod }, path: "/data" })) names.push(e.name);
          expect(names).toContain("hello.txt");
        }
        expect(proxy.webSocketRefused - refusedBefore).toBe(1);
      } finally {
        client.close();
      }
    } finally {
      await proxy.close();
    }
  }, 300_000);

  it("a user without pods/portforward gets PERMISSION_DENIED naming what is missing", async () => {
    const r = await cli(["ls", `${pods[cluster.nodes[0]!.name]}:/data`], noForwardKubeconfig);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^podfiles: PERMISSION_DENIED: cannot open a tunnel to agent pod podfiles\/\S+ on node \S+: .*pods\/portforward/);
  });

  it("a client-certificate kubeconfig (the cluster's admin, no token) lists, gets and puts on both nodes: TLS inside the tunnel, the certificate verified by the agent", async () => {
    // The agents (deploy/ with --auth kubernetes) read the API server's client CA and serve TLS beside
    // cleartext on the same port; a certificate-only user speaks TLS inside the tunnel and presents it.
    for (const [node, pod] of Object.entries(pods)) {
      const ls = await cli(["ls", `${NS}/${pod}:/data`], cluster.kubeconfig);
      expect(ls.code, ls.stderr).toBe(0);
      expect(ls.stdout).toContain("hello.txt");
      const local = path.join(dir, `cert-hello-${pod}.txt`);
      const get = await cli(["get", `${NS}/${pod}:/data/hello.txt`, local], cluster.kubeconfig);
      expect(get.code, get.stderr).toBe(0);
      expect(await readFile(local, "utf8")).toBe(`hello from ${node}\n`);
      const up = path.join(dir, `cert-up-${pod}.bin`);
      const bytes = randomBytes(MiB + 5);
      await writeFile(up, bytes);
      const put = await cli(["put", up, `${NS}/${pod}:/data/cert-up.bin`], cluster.kubeconfig);
      expect(put.code, put.stderr).toBe(0);
      expect((await execIn(pod, "sha256sum", "/data/cert-up.bin")).split(" ")[0]).toBe(createHash("sha256").update(bytes).digest("hex"));
    }
  });

  it("the agent on node B deleted: a call in flight fails UNAVAILABLE naming the tunnel; the next call works again (SDK, one client)", async () => {
    const nodeB = cluster.nodes[1]!.name;
    const pod = pods[nodeB]!;
    const client: KubeconfigClient = await connectWithKubeconfig({ kubeconfig: userKubeconfig });
    try {
      const names: string[] = [];
      for await (const e of client.list({ container: { namespace: NS, pod }, path: "/data" })) names.push(e.name);
      expect(names).toContain("big.bin");
      const old = (
        await cluster.kubectl([
          "-n",
          AGENT_NS,
          "get",
          "pods",
          "-l",
          "app.kubernetes.io/component=agent",
          "--field-selector",
          `spec.nodeName=${nodeB}`,
          "-o",
          "jsonpath={.items[0].metadata.name}",
        ])
      ).trim();
      // a download that reads its first bytes, then waits until the agent is gone: in flight when it
      // goes. Reading on at once let a fast tunnel (~100 MiB/s) finish the 256 MiB inside the agent's
      // 2 s of grace for open streams, and the call ended OK; paused, flow control holds the rest back.
      const stream = client.download({ container: { namespace: NS, pod }, path: "/data/big.bin" });
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      await cluster.kubectl(["-n", AGENT_NS, "delete", "pod", old, "--wait=false"]);
      await cluster.kubectl(["-n", AGENT_NS, "wait", "--for=delete", `pod/${old}`, "--timeout=120s"], { timeoutMs: 150_000 });
      const failure = await (async () => {
        try {
          for (let r = await it.next(); !r.done; r = await it.next());
          return undefined;
        } catch (err) {
          return err as PodfilesError;
        }
      })();
      expect(failure).toBeInstanceOf(PodfilesError);
      expect(failure!.code).toBe(Code.Unavailable);
      expect(failure!.message).toMatch(/tunnel to agent pod podfiles\/\S+ on node node-b/);
      // the DaemonSet's new pod on node B, Ready and listening
      await until(
        "a new agent pod on node B",
        async () => {
          const now = await waitAgentsReady(cluster, 120_000);
          return now[nodeB] && now[nodeB] !== old ? now[nodeB] : undefined;
        },
        180_000,
        500,
      );
      const fresh = (await waitAgentsReady(cluster, 120_000))[nodeB]!;
      await until(
        "the new agent listening",
        async () => ((await cluster.kubectl(["-n", AGENT_NS, "logs", fresh])).includes("agent listening") ? true : undefined),
        120_000,
        500,
      );
      // the next call on the same client: a new tunnel to the new pod
      const again: string[] = [];
      for await (const e of client.list({ container: { namespace: NS, pod }, path: "/data" })) again.push(e.name);
      expect(again).toContain("hello.txt");
    } finally {
      client.close();
    }
  }, 600_000);
});
