// The cluster of scripts/cluster.sh is real: real API calls through @kubernetes/client-node, with
// kubectl (and crictl) as outside witnesses.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { PassThrough } from "node:stream";
import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1Pod,
  type V1Status,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, e2eEnabled, ensureCluster, repoRoot } from "./support/cluster.js";
import { until } from "../support/until.js";

describe.skipIf(!e2eEnabled)("real Kubernetes cluster (two nodes unless PODFILES_NODES=1)", () => {
  let cluster: Cluster;
  let kc: KubeConfig;
  let core: CoreV1Api;
  const ns = `podfiles-e2e-${randomBytes(3).toString("hex")}`;

  beforeAll(async () => {
    cluster = await ensureCluster();
    kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
    // the namespace's default ServiceAccount comes from the controller-manager
    await until("default ServiceAccount", () => core.readNamespacedServiceAccount({ name: "default", namespace: ns }).then(() => true));
  });

  afterAll(async () => {
    if (cluster) await cluster.kubectl(["delete", "namespace", ns, "--wait=false"]).catch(() => {});
  });

  it("has its nodes Ready, each running kubelet v1.34.4 on containerd at its own address", async () => {
    const expected = (process.env.PODFILES_NODES ?? "2") === "1" ? ["localhost"] : ["localhost", "node-b"];
    expect(cluster.nodes.map((n) => n.name)).toEqual(expected);
    for (const n of cluster.nodes) {
      const node = await core.readNode({ name: n.name });
      const ready = node.status?.conditions?.find((c) => c.type === "Ready");
      expect(ready?.status, n.name).toBe("True");
      expect(node.status?.nodeInfo?.kubeletVersion).toBe("v1.34.4");
      expect(node.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
      expect(node.status?.addresses?.find((a) => a.type === "InternalIP")?.address).toBe(n.ip);
    }
    // witness
    const out = await cluster.kubectl(["get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"]);
    expect(out.trim().split(" ").sort()).toEqual(expected);
    const version = JSON.parse(await cluster.kubectl(["version", "-o", "json"]));
    expect(version.serverVersion.gitVersion).toBe("v1.34.4");
  });

  it("runs a busybox pod; a file written through the exec API is read back by kubectl exec and via /proc/<pid>/root", async () => {
    const pod: V1Pod = {
      metadata: { name: "busybox", namespace: ns },
      spec: {
        // crictl below asks node A's containerd
        nodeName: "localhost",
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: "main",
            image: "localhost/podfiles-busybox:1",
            imagePullPolicy: "Never",
            command: ["sh", "-c", 'trap "exit 0" TERM; while true; do sleep 1; done'],
          },
        ],
      },
    };
    await core.createNamespacedPod({ namespace: ns, body: pod });
    const running = await until(
      "pod Running",
      async () => {
        const p = await core.readNamespacedPod({ name: "busybox", namespace: ns });
        return p.status?.phase === "Running" ? p : undefined;
      },
      120_000,
    );
    const containerId = running.status?.containerStatuses?.[0]?.containerID ?? "";
    expect(containerId).toMatch(/^containerd:\/\/[0-9a-f]{64}$/);

    // write through the API's exec subresource (websocket, client-node)
    const content = `written by podfiles e2e ${randomBytes(8).toString("hex")}`;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let errText = "";
    stderr.on("data", (d) => (errText += String(d)));
    const status = await new Promise<V1Status>((resolve, reject) => {
      new Exec(kc)
        .exec(ns, "busybox", "main", ["sh", "-c", 'printf %s "$1" > /tmp/e2e.txt', "sh", content], stdout, stderr, null, false, (s) => resolve(s))
        .catch(reject);
    });
    expect(status.status, errText).toBe("Success");

    // witness 1: kubectl exec
    const readBack = await cluster.kubectl(["-n", ns, "exec", "busybox", "-c", "main", "--", "cat", "/tmp/e2e.txt"]);
    expect(readBack).toBe(content);

    // witness 2: CRI says which host PID runs the container; its /proc/<pid>/root shows the file
    const inspect = JSON.parse(await cluster.crictl(["inspect", containerId.replace("containerd://", "")]));
    const pid = inspect.info.pid as number;
    expect(pid).toBeGreaterThan(1);
    expect(await readFile(`/proc/${pid}/root/tmp/e2e.txt`, "utf8")).toBe(content);
  });

  it("issues a service-account token that a TokenReview authenticates", async () => {
    const token = (await cluster.kubectl(["-n", ns, "create", "token", "default", "--duration=10m"])).trim();
    expect(token.split(".")).toHaveLength(3);
    const authn = kc.makeApiClient(AuthenticationV1Api);
    const review = await authn.createTokenReview({ body: { spec: { token } } });
    expect(review.status?.authenticated).toBe(true);
    expect(review.status?.user?.username).toBe(`system:serviceaccount:${ns}:default`);

    const bogus = await authn.createTokenReview({ body: { spec: { token: `${token.slice(0, -4)}AAAA` } } });
    expect(bogus.status?.authenticated).not.toBe(true);
  });

  it("answers SubjectAccessReviews on podfiles.io/containerfiles from ordinary Roles", async () => {
    const authz = kc.makeApiClient(AuthorizationV1Api);
    const user = `system:serviceaccount:${ns}:default`;
    const sar = () =>
      authz.createSubjectAccessReview({
        body: {
          spec: {
            user,
            groups: ["system:serviceaccounts", `system:serviceaccounts:${ns}`, "system:authenticated"],
            resourceAttributes: {
              group: "podfiles.io",
              resource: "containerfiles",
              verb: "get",
              namespace: ns,
              name: "busybox",
            },
          },
        },
      });
    expect((await sar()).status?.allowed).toBe(false);

    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "containerfiles-reader" },
        rules: [{ apiGroups: ["podfiles.io"], resources: ["containerfiles"], verbs: ["get", "list"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "containerfiles-reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "containerfiles-reader" },
        subjects: [{ kind: "ServiceAccount", name: "default", namespace: ns }],
      },
    });
    // the RBAC authorizer reads Roles through an informer: allow a moment
    await until("SubjectAccessReview allowed", async () => ((await sar()).status?.allowed ? true : undefined), 20_000);

    // still denied: another verb, another namespace
    const del = await authz.createSubjectAccessReview({
      body: {
        spec: {
          user,
          resourceAttributes: { group: "podfiles.io", resource: "containerfiles", verb: "delete", namespace: ns },
        },
      },
    });
    expect(del.status?.allowed).toBe(false);
    const other = await authz.createSubjectAccessReview({
      body: {
        spec: {
          user,
          resourceAttributes: { group: "podfiles.io", resource: "containerfiles", verb: "get", namespace: "default" },
        },
      },
    });
    expect(other.status?.allowed).toBe(false);
  });

  it("validates a DaemonSet manifest server-side (kubectl apply --dry-run=server)", async () => {
    const manifest = path.join(repoRoot, "test/e2e/fixtures/sample-daemonset.yaml");
    const out = await cluster.kubectl(["-n", ns, "apply", "--dry-run=server", "-f", manifest]);
    expect(out).toMatch(/daemonset\.apps\/podfiles-agent-sample (created|configured) \(server dry run\)/);
    // dry run: nothing was stored
    const list = await cluster.kubectl(["-n", ns, "get", "daemonsets", "-o", "name"]);
    expect(list.trim()).toBe("");

    // and the server does reject what is invalid
    const bad = (await readFile(manifest, "utf8")).replace("hostPID: true", "hostPID: true\n      restartPolicy: Never");
    await expect(cluster.kubectl(["-n", ns, "apply", "--dry-run=server", "-f", "-"], { input: bad })).rejects.toThrow(/restartPolicy/);
  });
});
