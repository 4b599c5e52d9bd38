// A structural schema check for manifests with the Kubernetes models of @kubernetes/client-node:
// every field must exist in the model (catches typos such as readOnlyRootFileSystem) and have the
// model's JSON type. Not the API server's full validation (the cluster harness does a real
// server-side dry-run); enough to catch what a YAML typo would silently drop.
import * as k8s from "@kubernetes/client-node";

type AttributeMap = { name: string; baseName: string; type: string }[];
const models = k8s as unknown as Record<string, { getAttributeTypeMap?: () => AttributeMap } | undefined>;

/** Checks `value` against model type `type` ("V1DaemonSet", "Array<V1Container>", "string", ...); returns problems. */
export function checkAgainstModel(value: unknown, type: string, path = ""): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return [`${path}: expected a list`];
    return value.flatMap((v, i) => checkAgainstModel(v, array[1]!, `${path}[${i}]`));
  }
  if (/^\{ \[key: string\]: (.+); \}$/.test(type)) {
    const inner = /^\{ \[key: string\]: (.+); \}$/.exec(type)![1]!;
    if (typeof value !== "object" || Array.isArray(value)) return [`${path}: expected a map`];
    return Object.entries(value).flatMap(([k, v]) => checkAgainstModel(v, inner, `${path}.${k}`));
  }
  switch (type) {
    case "string":
      return typeof value === "string" ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`];
    case "number":
      return typeof value === "number" ? [] : [`${path}: expected a number, got ${JSON.stringify(value)}`];
    case "boolean":
      return typeof value === "boolean" ? [] : [`${path}: expected a boolean, got ${JSON.stringify(value)}`];
    case "IntOrString":
      return typeof value === "string" || typeof value === "number" ? [] : [`${path}: expected int or string`];
    case "any":
    case "object":
    case "Date":
      return [];
  }
  const model = models[type]?.getAttributeTypeMap?.();
  if (!model) return [`${path}: unknown model type ${type}`];
  if (typeof value !== "object" || Array.isArray(value)) return [`${path}: expected an object (${type})`];
  const byName = new Map(model.map((a) => [a.baseName, a.type]));
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => {
    const t = byName.get(k);
    return t === undefined ? [`${path}.${k}: no such field in ${type}`] : checkAgainstModel(v, t, `${path}.${k}`);
  });
}

export const MODEL_FOR_KIND: Record<string, string> = {
  Namespace: "V1Namespace",
  ServiceAccount: "V1ServiceAccount",
  ClusterRole: "V1ClusterRole",
  ClusterRoleBinding: "V1ClusterRoleBinding",
  Role: "V1Role",
  RoleBinding: "V1RoleBinding",
  DaemonSet: "V1DaemonSet",
  Service: "V1Service",
};
