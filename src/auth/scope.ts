// Scopes of podfiles tokens and the verbs of the RBAC resource
// containerfiles.podfiles.io, which both kinds of identity are checked against.

export const API_GROUP = "podfiles.io";
export const RESOURCE = "containerfiles";

export const VERBS = ["get", "create", "update", "delete"] as const;
export type Verb = (typeof VERBS)[number];

/** What a podfiles token may do: namespaces ("*" = all), pods (empty = all), verbs ("*" = all). */
export interface Scope {
  namespaces: string[];
  pods: string[];
  verbs: string[];
}

/** Validates a scope from a clients file, a request or a token's claims. */
export function parseScope(v: unknown, where: string): Scope {
  const o = (v ?? {}) as Record<string, unknown>;
  if (typeof v !== "object" || v === null) throw new Error(`${where}: scope must be an object`);
  const list = (key: string, required: boolean): string[] => {
    const x = o[key];
    if (x === undefined && !required) return [];
    if (!Array.isArray(x) || !x.every((s) => typeof s === "string" && s !== "")) throw new Error(`${where}: scope.${key} must be a list of names`);
    if (required && x.length === 0) throw new Error(`${where}: scope.${key} must not be empty`);
    return x as string[];
  };
  const scope = { namespaces: list("namespaces", true), pods: list("pods", false), verbs: list("verbs", true) };
  for (const verb of scope.verbs) {
    if (verb !== "*" && !(VERBS as readonly string[]).includes(verb)) throw new Error(`${where}: unknown verb "${verb}" (known: ${VERBS.join(", ")}, *)`);
  }
  return scope;
}

const has = (list: string[], x: string) => list.includes("*") || list.includes(x);

/** Whether the scope grants `verb` on the pod. */
export function scopeAllows(scope: Scope, verb: string, namespace: string, pod: string): boolean {
  return has(scope.verbs, verb) && has(scope.namespaces, namespace) && (scope.pods.length === 0 || has(scope.pods, pod));
}

/** Whether `inner` grants nothing that `outer` does not. */
export function scopeWithin(inner: Scope, outer: Scope): boolean {
  const sub = (a: string[], b: string[]) => b.includes("*") || (!a.includes("*") && a.every((x) => b.includes(x)));
  const pods = outer.pods.length === 0 || (inner.pods.length > 0 && sub(inner.pods, outer.pods));
  return sub(inner.namespaces, outer.namespaces) && sub(inner.verbs, outer.verbs) && pods;
}
