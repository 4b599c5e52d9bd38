/**
 * The agent against a REAL Kubernetes API server (scripts/cluster.sh: a one-node v1.34 cluster
 * on this machine) and the pods its kubelet runs: kubeconfig + context, pod → containerID on
 * node "localhost" → the cluster containerd's CRI → /proc/<pid>/root. Also a server-side dry-run
 * of deploy/. Runs when the cluster is already up, or with PODFILES_REAL_API=1 (brings it up);
 * skipped otherwise, because bringing a cluster up belongs to `npm run test:e2e`.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentResolver } from "../../src/resolve/agent-resolver.js";
import { silentLogger } from "../../src/log.js";
import type { KubeResolver } from "../../src/resolve/kube-resolver.js";
import { createServer, type RunningServer } from "../../src/server/server.js";
import { fileClients } from "../support/server.js";
import { clusterScript, ensureCluster, type Cluster } from "../e2e/support/cluster.js";
import { download, list, rpcError, upload, type FileClient } from "./support/rpc.js";

const clusterUp = (() => {
  try {
    execFileSync("bash", [clusterScript, "status"], { stdio: "ignore", timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
})();
const enabled = process.env.PODFILES_REAL_API === "1" || clusterUp;
const NS = `podfiles-agent-${process.pid}`;

const podYaml = `
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: ${NS}
  annotations: { kubectl.kubernetes.io/default-container: app }
spec:
  # the resolver below is node A's (its CRI socket, node name localhost)
  nodeName: localhost
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: localhost/podfiles-busybox:1
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
  - name: app
    image: localhost/podfiles-busybox:1
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 100000 & wait"]
    securityContext: { runAsUser: 1000, runAsGroup: 1000 }
`;

describe.skipIf(!enabled)("agent against the real API server (scripts/cluster.sh)", { timeout: 120_000 }, () => {
  let cluster: Cluster;
  let resolver: KubeResolver;
  let server: RunningServer;
  let client: FileClient;

  beforeAll(async () => {
    cluster = await ensureCluster();
    await cluster.kubectl(["create", "namespace", NS]);
    await cluster.kubectl(["apply", "-f", "-"], { input: podYaml });
    await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", "pod/web", "--timeout=90s"], { timeoutMs: 100_000 });
    resolver = createAgentResolver({
      kubeconfig: cluster.kubeconfig,
      criSocket: cluster.criSocket,
      procRoot: "/proc",
      nodeName: "localhost",
      logger: silentLogger,
    });
    server = await createServer({ resolver, logger: silentLogger }).listen(0, "127.0.0.1");
    client = fileClients(server.url).grpc;
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await resolver?.close();
    await cluster?.kubectl(["delete", "namespace", NS, "--wait=false"]).catch(() => undefined);
  }, 60_000);

  it("accepts deploy/ in a server-side dry-run", async () => {
    // a dry-run cannot create the namespace its namespaced objects go into: create it for real
    const created = await cluster.kubectl(["create", "namespace", "podfiles"]).then(
      () => true,
      () => false,
    );
    try {
      const out = await cluster.kubectl(["apply", "-k", join(import.meta.dirname, "../../deploy"), "--dry-run=server"]);
      for (const obj of [
        "daemonset.apps/podfiles-agent",
        "clusterrole.rbac.authorization.k8s.io/podfiles-agent",
        "service/podfiles",
        "serviceaccount/podfiles-agent",
        "clusterrolebinding.rbac.authorization.k8s.io/podfiles-agent",
      ]) {
        expect(out).toMatch(new RegExp(`${obj.replace(/[./]/g, "\\$&")} (created|configured|unchanged) \\(server dry run\\)`));
      }
    } finally {
      if (created) await cluster.kubectl(["delete", "namespace", "podfiles", "--wait=false"]);
    }
  });

  it("serves a kubelet-run pod's containers by namespace/pod/container", async () => {
    expect(await list(client, { namespace: NS, pod: "web", container: "main" }, "/")).toEqual(expect.arrayContaining(["bin", "etc"]));
    expect((await download(client, { namespace: NS, pod: "web", container: "app" }, "/etc/passwd")).toString()).toContain("app:x:1000:1000:");
    // empty container name → the default-container annotation (app, uid 1000)
    const up = await upload(client, { namespace: NS, pod: "web", container: "" }, "/tmp/real-api.txt", new TextEncoder().encode("hi"));
    expect(up.entry).toMatchObject({ uid: 1000, gid: 1000 });
    const err = await rpcError(client.stat({ container: { namespace: NS, pod: "nope", container: "" }, path: "/" }));
    expect(err.code).toBe(Code.NotFound);
  });
});
