/**
 * deploy/: the manifests parse, every field exists in the Kubernetes models (client-node), the
 * kustomization lists them all, and the agent's pod has the privileges the design allows and no
 * more: hostPID, not privileged, capabilities dropped to CHOWN/DAC_OVERRIDE/FOWNER/SYS_PTRACE,
 * read-only root filesystem, seccomp RuntimeDefault, host /proc read-only, RBAC pods/get only.
 * (No root needed; a real server-side dry-run comes with the cluster harness.)
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { loadAllYaml, loadYaml, type V1ClusterRole, type V1DaemonSet } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { checkAgainstModel, MODEL_FOR_KIND } from "./support/schema.js";

const DEPLOY = join(import.meta.dirname, "../../deploy");
const kustomization = loadYaml<{ resources: string[]; namespace?: string; transformers?: string[] }>(readFileSync(join(DEPLOY, "kustomization.yaml"), "utf8"));
const docs = kustomization.resources.flatMap((f) =>
  loadAllYaml(readFileSync(join(DEPLOY, f), "utf8")).map((d) => ({ file: f, doc: d as { kind: string; apiVersion: string; metadata: { name: string } } })),
);
const byKind = (kind: string) => docs.filter((d) => d.doc.kind === kind).map((d) => d.doc);

describe("deploy/ manifests", () => {
  it("kustomization lists every manifest, into namespace podfiles (except the client-CA RoleBinding, which names kube-system)", () => {
    const yamls = readdirSync(DEPLOY).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
    expect([...kustomization.resources].sort()).toEqual(yamls.sort());
    // a NamespaceTransformer with unsetOnly (a plain `namespace:` would move the kube-system RoleBinding too)
    expect(kustomization.namespace).toBeUndefined();
    const transformer = loadYaml<{ kind: string; metadata: { namespace: string }; unsetOnly: boolean }>(kustomization.transformers![0]!);
    expect(transformer).toMatchObject({ kind: "NamespaceTransformer", metadata: { namespace: "podfiles" }, unsetOnly: true });
    const namespaced = docs.filter((d) => !["Namespace", "ClusterRole", "ClusterRoleBinding"].includes(d.doc.kind));
    const own = (d: (typeof docs)[number]) => (d.doc.metadata as { namespace?: string }).namespace;
    expect(namespaced.filter((d) => own(d) !== undefined).map((d) => `${d.file}:${own(d)}`)).toEqual(["rolebinding-client-ca.yaml:kube-system"]);
    expect(docs.map((d) => d.doc.kind).sort()).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "DaemonSet",
      "Namespace",
      "Role",
      "RoleBinding",
      "RoleBinding",
      "Service",
      "ServiceAccount",
    ]);
  });

  it("every field exists in the Kubernetes models with the right type", () => {
    for (const { file, doc } of docs) {
      const model = MODEL_FOR_KIND[doc.kind];
      expect(model, `${file}: kind ${doc.kind}`).toBeDefined();
      expect(checkAgainstModel(doc, model!, `${file}:${doc.kind}`)).toEqual([]);
    }
    // the checker does catch a typo
    expect(checkAgainstModel({ spec: { containers: [{ name: "x", securityContext: { readOnlyRootFileSystem: true } }] } }, "V1Pod")).toHaveLength(1);
  });

  it("the DaemonSet runs the agent with hostPID and the least privileges", () => {
    const ds = byKind("DaemonSet")[0] as unknown as V1DaemonSet;
    const pod = ds.spec!.template.spec!;
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.serviceAccountName).toBe("podfiles-agent");
    expect(pod.securityContext?.seccompProfile?.type).toBe("RuntimeDefault");
    expect(pod.containers).toHaveLength(1);
    const c = pod.containers[0]!;
    expect(c.image).toBe("localhost/podfiles-agent:dev");
    expect(c.imagePullPolicy).toBe("IfNotPresent");
    const sc = c.securityContext!;
    expect(sc.privileged).toBe(false);
    expect(sc.allowPrivilegeEscalation).toBe(false);
    expect(sc.readOnlyRootFilesystem).toBe(true);
    expect(sc.runAsUser).toBe(0);
    expect(sc.seccompProfile?.type).toBe("RuntimeDefault");
    expect(sc.capabilities?.drop).toEqual(["ALL"]);
    expect([...(sc.capabilities?.add ?? [])].sort()).toEqual(["CHOWN", "DAC_OVERRIDE", "FOWNER", "SYS_PTRACE"]);
    expect(JSON.stringify(docs)).not.toMatch(/"privileged":\s*true/);
    expect(c.env?.find((e) => e.name === "NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName");
    expect(c.args).toEqual(expect.arrayContaining(["agent", "--proc-root=/host/proc"]));
    // exposed on the pod network only behind authentication
    expect(c.args).toContain("--host=0.0.0.0");
    expect(c.args).toContain("--auth=kubernetes");
    expect(c.args!.join(" ")).not.toContain("--insecure");
    const proc = pod.volumes!.find((v) => v.hostPath?.path === "/proc")!;
    const procMount = c.volumeMounts!.find((m) => m.name === proc.name)!;
    expect([procMount.mountPath, procMount.readOnly]).toEqual(["/host/proc", true]);
    const cri = pod.volumes!.find((v) => v.hostPath?.path === "/run/containerd")!;
    expect(c.volumeMounts!.find((m) => m.name === cri.name)).toMatchObject({ mountPath: "/host/run/containerd", readOnly: true });
    // every hostPath is mounted read-only
    for (const v of pod.volumes!.filter((x) => x.hostPath)) expect(c.volumeMounts!.find((m) => m.name === v.name)?.readOnly).toBe(true);
  });

  it("RBAC grants only pods get and list (ListContainers) and the two reviews auth needs, bound to the agent's ServiceAccount", () => {
    const role = byKind("ClusterRole")[0] as unknown as V1ClusterRole;
    const rules = role.rules!.map((r) => `${r.apiGroups!.join(",")}/${r.resources!.join(",")}:${r.verbs.join(",")}`).sort();
    expect(rules).toEqual(["/pods:get,list", "authentication.k8s.io/tokenreviews:create", "authorization.k8s.io/subjectaccessreviews:create"]);
    const binding = byKind("ClusterRoleBinding")[0] as unknown as { roleRef: { name: string }; subjects: { kind: string; name: string; namespace: string }[] };
    expect(binding.roleRef.name).toBe(role.metadata!.name);
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "podfiles-agent", namespace: "podfiles" }]);
  });

  it("the Service selects the agent pods on the named port", () => {
    const svc = byKind("Service")[0] as unknown as { spec: { selector: Record<string, string>; ports: { targetPort: string }[] } };
    const ds = byKind("DaemonSet")[0] as unknown as V1DaemonSet;
    expect(ds.spec!.template.metadata!.labels).toMatchObject(svc.spec.selector);
    expect(ds.spec!.selector.matchLabels).toEqual(svc.spec.selector);
    expect(ds.spec!.template.spec!.containers[0]!.ports!.map((p) => p.name)).toContain(svc.spec.ports[0]!.targetPort);
  });
});
