// The Helm chart deploy/helm/podfiles: `helm lint`, `helm template` (its defaults render the same
// objects as `kubectl kustomize deploy/`, compared object by object; each value shows up where it
// should), and `helm install` on the real cluster: one agent per node, answering, authorizing with
// Kubernetes tokens; `helm uninstall` leaves nothing. helm is built by scripts/cluster.sh (Go module
// proxy, pinned version) into the cluster's bin directory.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { loadAllYaml } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { listNames } from "../support/files.js";
import { fileClients } from "../support/server.js";
import { codeName } from "../support/status.js";
import { importAgentImage } from "./support/agent-image.js";
import {
  agentPort,
  assertOwnNamespace,
  readerToken,
  createSuiteNamespace,
  nodeNamingPod,
  SUITE_LABEL,
  waitAgentsReady,
  waitHttp,
} from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster, repoRoot } from "./support/cluster.js";

const CHART = path.join(repoRoot, "deploy/helm/podfiles");
const HELM_NS = "podfiles-helm";
const NS = "e2e-helm";
const RELEASE = "pfhelm";

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

describe.skipIf(!e2eEnabled)("the Helm chart deploy/helm/podfiles", () => {
  let cluster: Cluster;
  const helm = (args: string[], opts: { timeoutMs?: number } = {}) =>
    new Promise<string>((resolve, reject) =>
      execFile(
        path.join(cluster.binDir, "helm"),
        args,
        {
          env: {
            ...cluster.env,
            HELM_CACHE_HOME: path.join(cluster.binDir, "..", "helm-home", "cache"),
            HELM_CONFIG_HOME: path.join(cluster.binDir, "..", "helm-home", "config"),
            HELM_DATA_HOME: path.join(cluster.binDir, "..", "helm-home", "data"),
          },
          maxBuffer: 16 << 20,
          timeout: opts.timeoutMs ?? 180_000,
        },
        (err, stdout, stderr) => (err ? reject(new Error(`helm ${args.join(" ")}: ${err.message}\n${stderr}${stdout}`)) : resolve(stdout)),
      ),
    );
  const template = async (...sets: string[]) =>
    (loadAllYaml(await helm(["template", "podfiles", CHART, "--namespace", "podfiles", ...sets.flatMap((s) => ["--set", s])])) as (K8sObject | null)[]).filter(
      (o): o is K8sObject => !!o,
    );
  const daemonSet = (objs: K8sObject[]) => objs.find((o) => o.kind === "DaemonSet") as K8sObject & { spec: any };

  beforeAll(async () => {
    cluster = await ensureCluster();
  });

  it("passes helm lint (strict) with its defaults and with every optional part switched on", async () => {
    expect(await helm(["lint", "--strict", CHART])).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    const all = [
      "namespace.create=true",
      "tls.secretName=agent-tls",
      "auth.mode=kubernetes\\,jwt",
      "auth.jwt.secretName=jwt",
      "auth.jwt.keys[0]=a.key",
      "auth.jwt.clientsFile=clients.json",
      "hostNetwork=true",
      "terminationGracePeriodSeconds=5",
      "tls.allowCleartext=true",
      "clientCertificates.enabled=false",
    ];
    expect(await helm(["lint", "--strict", CHART, ...all.flatMap((s) => ["--set", s])])).toMatch(/0 chart\(s\) failed/);
    // and it can fail: values.schema.json refuses an unknown auth mode and a port out of range
    await expect(helm(["lint", "--strict", CHART, "--set", "auth.mode=basic"])).rejects.toThrow(/auth\/mode.*value must be one of/);
    await expect(helm(["template", "x", CHART, "--set", "agent.port=70000"])).rejects.toThrow(/agent\/port/);
  });

  it("renders with its defaults the same objects as `kubectl kustomize deploy/` (plus Helm's labels)", async () => {
    const kustomized = (loadAllYaml(await cluster.kubectl(["kustomize", path.join(repoRoot, "deploy")])) as K8sObject[]).filter(Boolean);
    const helmed = await template("namespace.create=true");
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
    expect(helmed.map(key).sort()).toEqual(kustomized.map(key).sort());
    for (const k of kustomized) {
      const h = helmed.find((o) => key(o) === key(k));
      if (!h) throw new Error(`helm template has no ${key(k)}`);
      const strip = (o: K8sObject) => {
        const { metadata, ...rest } = o;
        return { ...rest, metadata: { name: metadata.name, namespace: metadata.namespace } };
      };
      expect(strip(h), key(k)).toEqual(strip(k));
      // kustomize's labels are all there; Helm adds instance, managed-by, version and chart
      expect(h.metadata.labels, key(k)).toMatchObject(k.metadata.labels ?? {});
      expect(Object.keys(h.metadata.labels ?? {}).sort()).toEqual(
        [
          ...Object.keys(k.metadata.labels ?? {}),
          "app.kubernetes.io/instance",
          "app.kubernetes.io/managed-by",
          "app.kubernetes.io/version",
          "helm.sh/chart",
        ].sort(),
      );
    }
  });

  it("puts each value where it belongs (auth, RBAC, resources, node selector, tolerations, TLS Secret, image, extra args)", async () => {
    const objs = await template(
      "auth.mode=jwt",
      "auth.jwt.secretName=jwt-keys",
      "auth.jwt.keys[0]=2025-01.key",
      "auth.jwt.clientsFile=clients.json",
      "auth.tokenAudiences[0]=podfiles",
      "rbac.create=false",
      "serviceAccount.name=my-sa",
      "resources.limits.memory=1Gi",
      "nodeSelector.role=files",
      "tolerations[0].key=dedicated",
      "tolerations[0].operator=Equal",
      "tolerations[0].value=files",
      "tolerations[0].effect=NoSchedule",
      "tls.secretName=agent-tls",
      "image.repository=registry.example/podfiles",
      "image.tag=1.2.3",
      "agent.extraArgs[0]=--token-cache-seconds=30",
    );
    expect(objs.map((o) => o.kind).sort()).toEqual(["DaemonSet", "Service", "ServiceAccount"]); // no ClusterRole(Binding)
    const ds = daemonSet(objs);
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    expect(pod.serviceAccountName).toBe("my-sa");
    expect(objs.find((o) => o.kind === "ServiceAccount")?.metadata.name).toBe("my-sa");
    expect(c.image).toBe("registry.example/podfiles:1.2.3");
    expect(c.args).toEqual([
      "agent",
      "--port=8080",
      "--host=0.0.0.0",
      "--auth=jwt",
      "--proc-root=/host/proc",
      "--token-audience=podfiles",
      "--jwt-key=/etc/podfiles/jwt/2025-01.key",
      "--auth-clients=/etc/podfiles/jwt/clients.json",
      "--tls-cert=/etc/podfiles/tls/tls.crt",
      "--tls-key=/etc/podfiles/tls/tls.key",
      "--token-cache-seconds=30",
    ]);
    expect(c.resources).toEqual({ requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "1Gi" } });
    expect(pod.nodeSelector).toEqual({ "kubernetes.io/os": "linux", role: "files" });
    expect(pod.tolerations).toEqual([{ key: "dedicated", operator: "Equal", value: "files", effect: "NoSchedule" }]);
    expect(pod.volumes).toContainEqual({ name: "tls", secret: { secretName: "agent-tls", defaultMode: 0o400 } });
    expect(pod.volumes).toContainEqual({ name: "jwt", secret: { secretName: "jwt-keys", defaultMode: 0o400 } });
    expect(c.volumeMounts).toContainEqual({ name: "tls", mountPath: "/etc/podfiles/tls", readOnly: true });
    const svc = objs.find((o) => o.kind === "Service") as K8sObject & { spec: any };
    expect(svc.spec.ports[0].appProtocol).toBe("https");
  });

  it("client certificates: on by default with a RoleBinding to extension-apiserver-authentication-reader in kube-system; off renders --client-ca-file=none and no binding; tls.allowCleartext renders --allow-cleartext", async () => {
    const on = await template();
    const isClientCa = (o: K8sObject) => o.kind === "RoleBinding" && o.metadata.name.endsWith("-client-ca");
    const rb = on.find(isClientCa) as K8sObject & { roleRef: any; subjects: any[] };
    expect(rb.metadata).toMatchObject({ name: "podfiles-agent-client-ca", namespace: "kube-system" });
    expect(rb.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "extension-apiserver-authentication-reader" });
    expect(rb.subjects).toEqual([{ kind: "ServiceAccount", name: "podfiles-agent", namespace: "podfiles" }]);
    expect(daemonSet(on).spec.template.spec.containers[0].args.filter((a: string) => /client-ca|cleartext/.test(a))).toEqual([]);
    const off = await template("clientCertificates.enabled=false", "tls.secretName=agent-tls", "tls.allowCleartext=true");
    expect(off.some(isClientCa)).toBe(false);
    // the agents' own Role binding (list/watch their pods, for forwarding) stays
    expect(off.filter((o) => o.kind === "RoleBinding").map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(["podfiles/podfiles-agent"]);
    expect(daemonSet(off).spec.template.spec.containers[0].args).toEqual(
      expect.arrayContaining(["--tls-cert=/etc/podfiles/tls/tls.crt", "--allow-cleartext", "--client-ca-file=none"]),
    );
  });

  it("execFallback: off by default (no pods/exec ClusterRole, no flag); on renders --exec-fallback and the same pods/exec ClusterRole + binding as deploy/exec-fallback/; rbac.create=false renders no ClusterRole", async () => {
    const isExec = (o: K8sObject) => /^ClusterRole/.test(o.kind) && o.metadata.name.endsWith("-exec");
    const off = await template();
    expect(off.filter(isExec)).toEqual([]);
    expect(daemonSet(off).spec.template.spec.containers[0].args).not.toContain("--exec-fallback");
    const on = await template("execFallback.enabled=true");
    expect(daemonSet(on).spec.template.spec.containers[0].args).toContain("--exec-fallback");
    const dir = await mkdtemp(path.join(repoRoot, "test/e2e/.helm-exec-"));
    try {
      await writeFile(path.join(dir, "kustomization.yaml"), "resources: [../../../deploy]\ncomponents: [../../../deploy/exec-fallback]\n");
      const kustomized = (loadAllYaml(await cluster.kubectl(["kustomize", dir])) as K8sObject[]).filter(Boolean);
      expect(daemonSet(kustomized).spec.template.spec.containers[0].args).toContain("--exec-fallback");
      const strip = (o: K8sObject) => ({ ...o, metadata: { ...o.metadata, labels: undefined } });
      expect(on.filter(isExec).map(strip)).toEqual(kustomized.filter(isExec).map(strip));
      expect((kustomized.find((o) => o.kind === "ClusterRole" && isExec(o)) as K8sObject & { rules: unknown }).rules).toEqual([
        { apiGroups: [""], resources: ["pods/exec"], verbs: ["create", "get"] },
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect((await template("execFallback.enabled=true", "rbac.create=false")).filter(isExec)).toEqual([]);
    expect(await helm(["lint", "--strict", CHART, "--set", "execFallback.enabled=true"])).toMatch(/0 chart\(s\) failed/);
  });

  describe("installed on the real cluster", () => {
    let port = 0;
    let token = "";
    let tmpDir = "";
    const pods: Record<string, string> = {}; // node -> test pod

    beforeAll(async () => {
      for (const ns of [HELM_NS, NS]) await assertOwnNamespace(cluster, ns);
      await helm(["uninstall", RELEASE, "--namespace", HELM_NS, "--ignore-not-found", "--wait"]).catch(() => "");
      await cluster.kubectl(["delete", "namespace", HELM_NS, NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
      await importAgentImage(cluster);
      port = await agentPort(cluster);
      await cluster.kubectl(["create", "namespace", HELM_NS]);
      await cluster.kubectl(["label", "namespace", HELM_NS, `${SUITE_LABEL}=helm`, "pod-security.kubernetes.io/enforce=privileged"]);
      const apiPort = new URL(JSON.parse(await cluster.kubectl(["config", "view", "--minify", "-o", "json"])).clusters[0].cluster.server).port;
      // this cluster's needs, as test/e2e/overlay does for kustomize: host network, the pod IP, the
      // API server on 127.0.0.1, the private containerds' socket directory, no pulls
      const values = {
        image: { pullPolicy: "Never" },
        hostNetwork: true,
        dnsPolicy: "ClusterFirstWithHostNet",
        terminationGracePeriodSeconds: 5,
        agent: {
          port,
          host: "$(POD_IP)",
          criSocketDir: path.dirname(cluster.criSocket),
          extraEnv: [
            { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
            { name: "KUBERNETES_SERVICE_HOST", value: "127.0.0.1" },
            { name: "KUBERNETES_SERVICE_PORT", value: apiPort },
          ],
        },
      };
      const valuesFile = path.join(await mkdtemp(path.join(os.tmpdir(), "podfiles-helm-")), "values.json"); // JSON is YAML
      tmpDir = path.dirname(valuesFile);
      await writeFile(valuesFile, JSON.stringify(values));
      const t0 = Date.now();
      const out = await helm(["install", RELEASE, CHART, "--namespace", HELM_NS, "--values", valuesFile, "--wait", "--timeout", "120s"]);
      expect(out).toMatch(/STATUS: deployed/);
      console.log(`[e2e helm] helm install --wait: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

      // a pod on each node to read, and a reader allowed to
      await createSuiteNamespace(cluster, NS, "helm");
      for (const [i, node] of cluster.nodes.entries()) {
        pods[node.name] = `files-${i}`;
        const pod = nodeNamingPod(NS, pods[node.name]!, node.name);
        await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
      }
      token = await readerToken(cluster, NS);
      for (const p of Object.values(pods))
        await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", `pod/${p}`, "--timeout=120s"], { timeoutMs: 130_000 });
    }, 300_000);

    afterAll(async () => {
      if (!cluster) return;
      try {
        await helm(["uninstall", RELEASE, "--namespace", HELM_NS, "--ignore-not-found", "--wait", "--timeout", "120s"]);
        await cluster.kubectl(["delete", "namespace", HELM_NS, NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
      } finally {
        if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
      }
      // nothing of the release is left, cluster-scoped objects included
      expect((await cluster.kubectl(["get", "clusterrole,clusterrolebinding", "-l", `app.kubernetes.io/instance=${RELEASE}`, "-o", "name"])).trim()).toBe("");
      expect((await cluster.kubectl(["get", "namespace", HELM_NS, NS, "--ignore-not-found", "-o", "name"])).trim()).toBe("");
    }, 200_000);

    it("runs one agent per node; each serves its node's pod to a token with the Role and refuses one without", async () => {
      // the pod template carries the selector labels only (as deploy/ does): the release's namespace says whose they are
      const agentPods = await waitAgentsReady(cluster, 60_000, HELM_NS);
      expect(Object.keys(agentPods).sort()).toEqual(cluster.nodes.map((n) => n.name).sort());
      const ds = JSON.parse(await cluster.kubectl(["-n", HELM_NS, "get", "daemonset", `${RELEASE}-podfiles-agent`, "-o", "json"]));
      expect(ds.status.numberReady).toBe(cluster.nodes.length);
      expect(ds.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/instance": RELEASE });
      // the release's RBAC is what the agent uses: its ClusterRole is bound to its ServiceAccount
      const crb = JSON.parse(await cluster.kubectl(["get", "clusterrolebinding", `${RELEASE}-podfiles-agent`, "-o", "json"]));
      expect(crb.subjects).toEqual([{ kind: "ServiceAccount", name: `${RELEASE}-podfiles-agent`, namespace: HELM_NS }]);
      for (const node of cluster.nodes) {
        const url = `http://${node.ip}:${port}`;
        await waitHttp(url, 30_000);
        const ref = { namespace: NS, pod: pods[node.name], container: "main" };
        const withToken = fileClients(url, [
          (next) => (req) => {
            req.header.set("Authorization", `Bearer ${token}`);
            return next(req);
          },
        ]).grpc;
        const { entry } = await withToken.stat({ container: ref, path: "/tmp/node" });
        expect(entry?.size, node.name).toBe(BigInt(node.name.length + 1));
        expect(await listNames(withToken, ref, "/tmp")).toContain("/tmp/node");
        expect(await codeName(listNames(fileClients(url).grpc, ref, "/tmp"))).toBe("Unauthenticated");
      }
    });
  });
});
