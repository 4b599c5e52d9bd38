// The read check ListContainers filters with: may this identity `get` containerfiles.podfiles.io
// of a pod, decided exactly as the interceptor decides a ListFiles/Stat/Download (authorize():
// a JWT's scope, or SubjectAccessReview for a Kubernetes identity). One checker per call. For a
// Kubernetes identity it first asks once per namespace (SubjectAccessReview without a name: a
// Role that grants `get` in the whole namespace answers yes for every pod in it), and only where
// that says no, per pod, at most PER_POD_CHECKS_PER_CALL of them, PER_POD_CONCURRENCY at a time:
// a cluster of many namespaces the caller cannot see costs one review per namespace, not one per
// pod, and a call never sends more reviews than that bound (the KubeAuth cache keeps the answers
// for its 10 s).
import type { ReadAccess } from "../server/call-info.js";
import type { Identity } from "./identity.js";
import type { KubeAuth } from "./kubernetes.js";
import { scopeAllows } from "./scope.js";

export const PER_POD_CHECKS_PER_CALL = 1000;
const PER_POD_CONCURRENCY = 8;

export function readAccess(id: Identity, kubernetes: KubeAuth | undefined): ReadAccess {
  if (id.kind === "jwt" && id.scope) {
    const scope = id.scope;
    return async (namespace, pod) => scopeAllows(scope, "get", namespace, pod);
  }
  if (id.kind !== "kubernetes" || !id.user || !kubernetes) return async () => false;
  const user = id.user;
  const wholeNamespace = new Map<string, Promise<boolean>>();
  let podChecks = 0;
  let running = 0;
  const waiting: (() => void)[] = [];
  const slot = async () => {
    while (running >= PER_POD_CONCURRENCY) await new Promise<void>((r) => waiting.push(r));
    running++;
  };
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  return async (namespace, pod) => {
    let ns = wholeNamespace.get(namespace);
    if (!ns) {
      ns = kubernetes.allowed(user, "get", namespace, "").then((r) => r.allowed);
      wholeNamespace.set(namespace, ns);
    }
    if (await ns) return true;
    if (podChecks >= PER_POD_CHECKS_PER_CALL) return false;
    podChecks++;
    await slot();
    try {
      return (await kubernetes.allowed(user, "get", namespace, pod)).allowed;
    } finally {
      release();
    }
  };
}
