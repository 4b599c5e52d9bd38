// Kubeconfig client certificates against the agents deployed from deploy/ on the real cluster: each
// agent reads the API server's client CA from kube-system/extension-apiserver-authentication (the
// RoleBinding deploy/rolebinding-client-ca.yaml allows it), serves TLS beside cleartext on its port
// with a serving certificate made at start, and authorizes a certificate's CN (user) and O (groups)
// with SubjectAccessReview at the real API server. Certificates: the cluster's admin kubeconfig
// (system:masters) and fresh ones issued by the cluster's own signer through the
// CertificateSigningRequest API (kubernetes.io/kube-apiserver-client), as an administrator would.
// A certificate presented to one node's agent for a pod on the other node is verified there and
// forwarded with the identity asserted (podfiles-forwarded-user / -groups) to the pod's agent.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { downloadAll, listNames, sha256, uploadAll, type FileClient } from "../support/files.js";
import { codeAndMessage } from "../support/status.js";
import { TestCa } from "../support/test-ca.js";
import { until } from "../support/until.js";
import { AGENT_NS, assertOwnNamespace, type DeployedAgents, deployAgents, createSuiteNamespace, nodeNamingPod, SUITE_LABEL } from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster } from "./support/cluster.js";

const NS = "certs-e2e";

interface KeyPair {
  cert: string;
  key: string;
}

describe.skipIf(!e2eEnabled)("kubeconfig client certificates through the agents (real API server, real RBAC)", () => {
  let cluster: Cluster;
  let agents: DeployedAgents;
  let tmp = "";
  const nonce = randomBytes(4).toString("hex");
  const team = `certs-e2e-team-${nonce}`;
  const csrNames: string[] = [];
  const ids: Record<"admin" | "alice" | "bob", KeyPair> = {} as never;
  const podOn: Record<string, string> = {}; // node -> pod

  /** The Connect SDK over TLS (HTTP/2, gRPC) with a client certificate; the agent's serving certificate is self-signed and not verified, as the kubeconfig tunnel does. */
  const client = (node: string, id?: KeyPair): FileClient =>
    createClient(
      FileService,
      createGrpcTransport({ baseUrl: agents.urlOf(node).replace(/^http:/, "https:"), nodeOptions: { rejectUnauthorized: false, ...(id ?? {}) } }),
    );
  const ref = (node: string) => ({ namespace: NS, pod: podOn[node], container: "main" });

  /** A key and a certificate for the subject, from the cluster's signer through a CertificateSigningRequest an admin approves. */
  async function issue(name: string, subject: string): Promise<KeyPair> {
    const keyFile = path.join(tmp, `${name}.key`);
    const csr = execFileSync(
      "openssl",
      ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-subj", subject],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const csrName = `certs-e2e-${name}-${nonce}`;
    csrNames.push(csrName);
    const obj = {
      apiVersion: "certificates.k8s.io/v1",
      kind: "CertificateSigningRequest",
      metadata: { name: csrName, labels: { [SUITE_LABEL]: "certs" } },
      spec: { request: csr.toString("base64"), signerName: "kubernetes.io/kube-apiserver-client", usages: ["client auth"], expirationSeconds: 3600 },
    };
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(obj) });
    await cluster.kubectl(["certificate", "approve", csrName]);
    const b64 = await until(
      `certificate of ${csrName}`,
      async () => (await cluster.kubectl(["get", "csr", csrName, "-o", "jsonpath={.status.certificate}"])).trim() || undefined,
      60_000,
    );
    return { cert: Buffer.from(b64, "base64").toString(), key: readFileSync(keyFile, "utf8") };
  }

  beforeAll(async () => {
    cluster = await ensureCluster();
    tmp = mkdtempSync(path.join(os.tmpdir(), "podfiles-certs-e2e-"));
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    agents = await deployAgents(cluster, `certs-${nonce}`);
    await createSuiteNamespace(cluster, NS, "certs");
    for (const [i, node] of cluster.nodes.entries()) {
      podOn[node.name] = `files-${i}`;
      const pod = nodeNamingPod(NS, podOn[node.name]!, node.name);
      await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
    }
    // the Role of deploy/rbac-examples/containerfiles-readwrite.yaml, bound to the GROUP of alice's certificate (its O)
    const rbac = [
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: "files-rw", namespace: NS },
        rules: [{ apiGroups: ["podfiles.io"], resources: ["containerfiles"], verbs: ["get", "create", "update", "delete"] }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: "files-rw", namespace: NS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "files-rw" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: team }],
      },
    ];
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: rbac }) });
    // the admin kubeconfig's own client certificate (O=system:masters)
    const user = JSON.parse(await cluster.kubectl(["config", "view", "--raw", "--minify", "-o", "json"])).users[0].user;
    ids.admin = {
      cert: user["client-certificate-data"]
        ? Buffer.from(user["client-certificate-data"], "base64").toString()
        : readFileSync(user["client-certificate"], "utf8"),
      key: user["client-key-data"] ? Buffer.from(user["client-key-data"], "base64").toString() : readFileSync(user["client-key"], "utf8"),
    };
    ids.alice = await issue("alice", `/CN=certs-e2e-alice-${nonce}/O=${team}`);
    ids.bob = await issue("bob", `/CN=certs-e2e-bob-${nonce}`);
    for (const p of Object.values(podOn))
      await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", `pod/${p}`, "--timeout=120s"], { timeoutMs: 130_000 });
  }, 400_000);

  afterAll(async () => {
    if (!cluster) return;
    await Promise.all([
      agents?.remove(),
      cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 }),
      csrNames.length ? cluster.kubectl(["delete", "csr", ...csrNames, "--ignore-not-found"]) : undefined,
    ]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    expect((await cluster.kubectl(["get", "namespace", AGENT_NS, NS, "--ignore-not-found", "-o", "name"])).trim()).toBe("");
    expect((await cluster.kubectl(["-n", "kube-system", "get", "rolebinding", "podfiles-agent-client-ca", "--ignore-not-found", "-o", "name"])).trim()).toBe(
      "",
    );
  }, 200_000);

  it("each agent took the API server's client CA from the ConfigMap and serves TLS beside cleartext", async () => {
    for (const node of cluster.nodes) {
      const logs = await cluster.kubectl(["-n", AGENT_NS, "logs", agents.pods[node.name]]);
      const listening = logs
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, any>)
        .find((l) => l.msg === "agent listening");
      expect(listening, logs).toMatchObject({
        url: agents.urlOf(node.name),
        tlsUrl: agents.urlOf(node.name).replace(/^http:/, "https:"),
        tls: {
          clientCa: "ConfigMap kube-system/extension-apiserver-authentication",
          cleartextToo: true,
          servingCert: expect.stringMatching(/^ephemeral self-signed, SHA-256 [0-9A-F:]{95}$/),
        },
      });
      expect(listening?.auth).toMatch(/TLS client certificates \(CN, O\)/);
    }
  });

  it("the admin kubeconfig's certificate (system:masters) lists, gets and puts on a pod on every node, over TLS", async () => {
    for (const node of cluster.nodes) {
      const c = client(node.name, ids.admin);
      expect(await listNames(c, ref(node.name), "/tmp")).toContain("/tmp/node");
      expect((await downloadAll(c, ref(node.name), "/tmp/node")).data.toString()).toBe(`${node.name}\n`);
      const data = randomBytes(3 * 1024 * 1024 + 5);
      await uploadAll(c, ref(node.name), "/tmp/by-admin.bin", data);
      const inPod = await cluster.kubectl(["-n", NS, "exec", podOn[node.name], "-c", "main", "--", "sha256sum", "/tmp/by-admin.bin"]);
      expect(inPod.split(" ")[0]).toBe(sha256(data));
    }
  });

  it("a fresh certificate whose O is bound to the read-write Role: lists, gets, puts; the audit log names the CN", async () => {
    for (const node of cluster.nodes) {
      const c = client(node.name, ids.alice);
      const data = Buffer.from(`alice on ${node.name} ${nonce}\n`);
      const up = await uploadAll(c, ref(node.name), "/tmp/by-alice.txt", data);
      expect(up.bytesReceived).toBe(BigInt(data.length));
      expect((await downloadAll(c, ref(node.name), "/tmp/by-alice.txt")).data.equals(data)).toBe(true);
      expect(await listNames(c, ref(node.name), "/tmp")).toEqual(expect.arrayContaining(["/tmp/by-alice.txt", "/tmp/node"]));
      expect(await cluster.kubectl(["-n", NS, "exec", podOn[node.name], "-c", "main", "--", "cat", "/tmp/by-alice.txt"])).toBe(data.toString());
      const logs = await cluster.kubectl(["-n", AGENT_NS, "logs", agents.pods[node.name]]);
      expect(logs).toContain(`"who":"certs-e2e-alice-${nonce}"`);
    }
  });

  it("a certificate through the agent on the other node: that agent verifies it and forwards the call with the identity asserted; the pod's agent authorizes CN and O and audits forwarded_by", async () => {
    const nodes = cluster.nodes.map((n) => n.name);
    expect(nodes.length).toBeGreaterThanOrEqual(2);
    for (const [via, to] of [
      [nodes[0]!, nodes[1]!],
      [nodes[1]!, nodes[0]!],
    ]) {
      const c = client(via, ids.alice);
      const data = Buffer.from(`alice via ${via} to ${to} ${nonce}\n`);
      await uploadAll(c, ref(to), "/tmp/via-hop.txt", data);
      expect((await downloadAll(c, ref(to), "/tmp/via-hop.txt")).data.equals(data)).toBe(true);
      expect(await cluster.kubectl(["-n", NS, "exec", podOn[to], "-c", "main", "--", "cat", "/tmp/via-hop.txt"])).toBe(data.toString());
      const audit = (await cluster.kubectl(["-n", AGENT_NS, "logs", agents.pods[to]]))
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.msg === "audit" && l.path === "/tmp/via-hop.txt");
      expect(audit.at(-1)).toMatchObject({ who: `certs-e2e-alice-${nonce}`, kind: "kubernetes", forwarded_by: via, result: "ok" });
      // the admin kubeconfig's certificate (O=system:masters) through the hop too
      expect(await listNames(client(via, ids.admin), ref(to), "/tmp")).toContain("/tmp/via-hop.txt");
      // bob has no Role: the serving agent's SubjectAccessReview refuses him by name
      const [code, msg] = await codeAndMessage(client(via, ids.bob).stat({ container: ref(to), path: "/tmp/node" }));
      expect([code, msg]).toEqual([Code.PermissionDenied, expect.stringMatching(new RegExp(`^certs-e2e-bob-${nonce} cannot get resource "containerfiles"`))]);
    }
  });

  it("a certificate of the cluster's CA without the Role → PERMISSION_DENIED naming the user; one of another CA → UNAUTHENTICATED", async () => {
    const node = cluster.nodes[0].name;
    const [code, msg] = await codeAndMessage(client(node, ids.bob).stat({ container: ref(node), path: "/tmp/node" }));
    expect(code).toBe(Code.PermissionDenied);
    expect(msg).toMatch(
      new RegExp(`^certs-e2e-bob-${nonce} cannot get resource "containerfiles" in API group "podfiles.io" for pod "${podOn[node]}" in the namespace "${NS}"`),
    );
    const other = new TestCa("certs-e2e-other");
    try {
      const forged = other.issue({ subject: "/CN=kubernetes-admin/O=system:masters" });
      const [code2, msg2] = await codeAndMessage(client(node, forged).stat({ container: ref(node), path: "/tmp/node" }));
      expect(code2).toBe(Code.Unauthenticated);
      expect(msg2).toMatch(/^TLS client certificate not accepted/);
    } finally {
      other.close();
    }
    // no certificate, no token, over TLS: UNAUTHENTICATED
    expect((await codeAndMessage(client(node).stat({ container: ref(node), path: "/tmp/node" })))[0]).toBe(Code.Unauthenticated);
  });
});
