// The two-node cluster of scripts/cluster.sh for real: node A (`localhost`) on the host, node B
// (`node-b`) with its own containerd, kubelet and kube-proxy in a network and mount namespace of its
// own. With deploy/ applied (through test/e2e/overlay): one agent per node, each serving its own
// node's containers from its own node's containerd; pods on the two nodes reach each other; and a
// Service whose only endpoint is node A's agent is reached from a pod on node B through node B's
// kube-proxy (the ClusterIP exists only as iptables rules in node B's network namespace). Witnesses:
// kubectl, crictl on each node's containerd, iptables-save inside node B's namespace, the agents' logs.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { downloadAll } from "../support/files.js";
import { fileClients } from "../support/server.js";
import { until } from "../support/until.js";
import { AGENT_NS, assertOwnNamespace, type DeployedAgents, deployAgents, readerToken, createSuiteNamespace } from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster } from "./support/cluster.js";

const NS = "e2e-nodes";
const twoNodes = (process.env.PODFILES_NODES ?? "2") !== "1";

describe.skipIf(!e2eEnabled || !twoNodes)("two nodes: one agent per node, pod traffic and Services between the nodes", () => {
  let cluster: Cluster;
  let agents: DeployedAgents;
  let token = "";
  const nonce = randomBytes(6).toString("hex");
  const webOn: Record<string, string> = {}; // node -> pod name
  const msgOf = (pod: string) => `${pod} says ${nonce}\n`;
  const exec = (pod: string, ...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", pod, "-c", "main", "--", ...cmd]);
  const podJson = async (ns: string, name: string) => JSON.parse(await cluster.kubectl(["-n", ns, "get", "pod", name, "-o", "json"]));
  const client = (url: string) =>
    fileClients(url, [
      (next) => (req) => {
        req.header.set("Authorization", `Bearer ${token}`);
        return next(req);
      },
    ]).grpc;

  beforeAll(async () => {
    cluster = await ensureCluster();
    expect(cluster.nodes.map((n) => n.name)).toEqual(["localhost", "node-b"]);
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    agents = await deployAgents(cluster, nonce);

    await createSuiteNamespace(cluster, NS, "nodes");
    // one web pod pinned to each node: busybox httpd serving a file that names the pod
    for (const [i, node] of cluster.nodes.entries()) {
      const name = `web-${i === 0 ? "a" : "b"}`;
      webOn[node.name] = name;
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: NS },
        spec: {
          nodeName: node.name,
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: "main",
              image: "localhost/podfiles-busybox:1",
              imagePullPolicy: "Never",
              command: ["sh", "-c", 'mkdir -p /tmp/www && printf "%s" "$MSG" > /tmp/www/hello && exec httpd -f -p 8000 -h /tmp/www'],
              env: [{ name: "MSG", value: msgOf(name) }],
            },
          ],
        },
      };
      await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
    }
    // a reader: get on containerfiles in this namespace
    token = await readerToken(cluster, NS);
    for (const pod of Object.values(webOn)) {
      await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", `pod/${pod}`, "--timeout=120s"], { timeoutMs: 130_000 });
    }
  }, 300_000);

  afterAll(async () => {
    if (!cluster) return;
    await Promise.all([
      agents?.remove(),
      cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 }),
    ]);
    expect((await cluster.kubectl(["get", "namespace", AGENT_NS, NS, "--ignore-not-found", "-o", "name"])).trim()).toBe("");
  }, 200_000);

  it("runs one agent per node, each on its node's address, serving its node's pods from its node's containerd", async () => {
    const ds = JSON.parse(await cluster.kubectl(["-n", AGENT_NS, "get", "daemonset", "podfiles-agent", "-o", "json"]));
    expect(ds.status.desiredNumberScheduled).toBe(2);
    expect(ds.status.numberReady).toBe(2);
    expect(Object.keys(agents.pods).sort()).toEqual(["localhost", "node-b"]);
    for (const node of cluster.nodes) {
      const pod = await podJson(AGENT_NS, agents.pods[node.name]);
      expect(pod.spec.nodeName).toBe(node.name);
      expect(pod.status.hostIP).toBe(node.ip);
      expect(pod.status.podIP).toBe(node.ip); // hostNetwork: the node's address
      const logs = await cluster.kubectl(["-n", AGENT_NS, "logs", agents.pods[node.name]]);
      const listening = logs
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === "agent listening");
      expect(listening, logs).toMatchObject({ url: agents.urlOf(node.name), node: node.name });

      // the web pod of this node: its sandbox is in this node's containerd only
      const web = webOn[node.name];
      const other = cluster.nodes.find((n) => n.name !== node.name)?.name ?? "";
      expect((await cluster.crictlOn(node.name, ["pods", "--name", web, "-q"])).trim()).toMatch(/^[0-9a-f]{64}$/);
      expect((await cluster.crictlOn(other, ["pods", "--name", web, "-q"])).trim()).toBe("");
      // ... and this node's agent serves it (node B's agent finds node B's containerd through the
      // DaemonSet's one hostPath, which node B's mount namespace points at node B's run dir)
      const c = client(agents.urlOf(node.name));
      const ref = { namespace: NS, pod: web, container: "main" };
      const { entry } = await c.stat({ container: ref, path: "/tmp/www/hello" });
      expect(entry?.size).toBe(BigInt(Buffer.byteLength(msgOf(web))));
      expect((await downloadAll(c, ref, "/tmp/www/hello")).data.toString()).toBe(msgOf(web));
    }
  });

  // busybox 1.35's static wget crashes (SIGSEGV) with -T: `timeout 5` bounds it instead
  it("carries pod traffic between the nodes, both ways (one pod network over the two bridges)", async () => {
    const ipOf = async (pod: string) => (await podJson(NS, pod)).status.podIP as string;
    const [a, b] = [webOn.localhost, webOn["node-b"]];
    const [ipA, ipB] = [await ipOf(a), await ipOf(b)];
    expect(ipA).toMatch(/^10\.244\.0\.\d+$/);
    expect(ipB).toMatch(/^10\.244\.1\.\d+$/);
    expect(await exec(b, "timeout", "5", "wget", "-q", "-O-", `http://${ipA}:8000/hello`)).toBe(msgOf(a));
    expect(await exec(a, "timeout", "5", "wget", "-q", "-O-", `http://${ipB}:8000/hello`)).toBe(msgOf(b));
  });

  it("routes a Service from a pod on node B to the agent on node A through node B's kube-proxy", async () => {
    const nodeA = cluster.nodes[0];
    // a Service whose only endpoint is node A's agent (a label on that pod alone)
    await cluster.kubectl(["-n", AGENT_NS, "label", "pod", agents.pods[nodeA.name], "podfiles.io/e2e-node=a"]);
    const svc = {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "agent-on-a", namespace: AGENT_NS },
      spec: {
        selector: { "app.kubernetes.io/component": "agent", "podfiles.io/e2e-node": "a" },
        ports: [{ name: "grpc", port: 8080, targetPort: agents.port, protocol: "TCP" }],
      },
    };
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(svc) });
    const clusterIP = (await cluster.kubectl(["-n", AGENT_NS, "get", "service", "agent-on-a", "-o", "jsonpath={.spec.clusterIP}"])).trim();
    expect(clusterIP).toMatch(/^10\.96\.\d+\.\d+$/);
    await until(
      "the Service's endpoint: node A's agent",
      async () => {
        const slices = JSON.parse(
          await cluster.kubectl(["-n", AGENT_NS, "get", "endpointslices", "-l", "kubernetes.io/service-name=agent-on-a", "-o", "json"]),
        );
        const addrs = slices.items.flatMap((s: { endpoints?: { addresses: string[] }[] }) => (s.endpoints ?? []).flatMap((e) => e.addresses));
        return addrs.length === 1 && addrs[0] === nodeA.ip ? true : undefined;
      },
      30_000,
    );
    // a Connect unary call (JSON over HTTP/1.1) with busybox wget, from the pod on node B, for the
    // pod on node A: only node A's agent can serve it
    const body = JSON.stringify({ container: { namespace: NS, pod: webOn.localhost, container: "main" }, path: "/tmp/www/hello" });
    const call = () =>
      exec(
        webOn["node-b"],
        "timeout",
        "5",
        "wget",
        "-q",
        "-O-",
        "--header",
        "Content-Type: application/json",
        "--header",
        `Authorization: Bearer ${token}`,
        "--post-data",
        body,
        `http://${clusterIP}:8080/podfiles.v1.FileService/Stat`,
      );
    const answer = JSON.parse(await until("Stat through the Service (kube-proxy syncs within seconds)", () => call(), 30_000));
    expect(answer.entry).toMatchObject({ size: String(Buffer.byteLength(msgOf(webOn.localhost))) });
    // the witness: the ClusterIP is a DNAT rule of kube-proxy in node B's network namespace only
    const nodeB = cluster.nodes[1];
    const natB = await new Promise<string>((resolve, reject) =>
      execFile("ip", ["netns", "exec", nodeB.netns, "iptables-save", "-t", "nat"], { maxBuffer: 16 << 20 }, (err, out, stderr) =>
        err ? reject(new Error(stderr)) : resolve(out),
      ),
    );
    expect(natB).toContain(`-d ${clusterIP}/32`);
    expect(natB).toContain(`--to-destination ${nodeA.ip}:${agents.port}`);
    const natHost = await new Promise<string>((resolve) => execFile("iptables-save", ["-t", "nat"], (_e, out) => resolve(out ?? "")));
    expect(natHost).not.toContain(clusterIP);
  });
});
