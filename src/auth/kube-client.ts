// The @kubernetes/client-node side of Kubernetes auth: TokenReview and
// SubjectAccessReview calls with a timeout. Kept apart so that importing the
// auth layer does not load the Kubernetes client (loaded only for --auth kubernetes).
import { AuthenticationV1Api, AuthorizationV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { FileServiceError, unavailable } from "../errors.js";
import type { KubeReviews } from "./kubernetes.js";
import { API_GROUP, RESOURCE } from "./scope.js";

/** KubeReviews through @kubernetes/client-node, with a timeout per call. */
export function kubeReviews(kc: KubeConfig, timeoutMs = 5000): KubeReviews {
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  return {
    async tokenReview(token, audiences) {
      const review = await withTimeout(
        authn.createTokenReview({
          body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, ...(audiences.length ? { audiences } : {}) } },
        }),
        timeoutMs,
        "TokenReview",
      );
      const s = review.status ?? {};
      const u = s.user;
      return {
        authenticated: s.authenticated === true && !!u?.username,
        user: u?.username ? { username: u.username, uid: u.uid, groups: u.groups ?? [], extra: u.extra } : undefined,
        audiences: s.audiences,
        error: s.error,
      };
    },
    async subjectAccessReview(a) {
      const review = await withTimeout(
        authz.createSubjectAccessReview({
          body: {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SubjectAccessReview",
            spec: {
              user: a.user.username,
              uid: a.user.uid,
              groups: a.user.groups,
              extra: a.user.extra,
              resourceAttributes: { group: API_GROUP, resource: RESOURCE, verb: a.verb, namespace: a.namespace, name: a.name },
            },
          },
        }),
        timeoutMs,
        "SubjectAccessReview",
      );
      return { allowed: review.status?.allowed === true && review.status?.denied !== true, reason: review.status?.reason };
    },
  };
}

/** A KubeConfig from $KUBECONFIG, ~/.kube/config or the in-cluster ServiceAccount. */
export function defaultKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error("kubernetes auth: no cluster in the kubeconfig (set KUBECONFIG, or run in a pod)");
  return kc;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(unavailable(`${what}: the Kubernetes API server did not answer in ${ms} ms`)), ms);
      }),
    ]);
  } catch (err) {
    if (err instanceof FileServiceError) throw err;
    throw unavailable(`${what} failed: ${apiErrorText(err)}`, err);
  } finally {
    clearTimeout(timer);
  }
}

function apiErrorText(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  if (typeof e?.code === "number") {
    const body = typeof e.body === "string" ? e.body : JSON.stringify(e.body ?? "");
    return `HTTP ${e.code}${body ? `: ${body.slice(0, 300)}` : ""}`;
  }
  return e?.message ?? String(err);
}

/** Where kube-apiserver publishes its client CA for extension servers (and the kubelet reads it too). */
export const CLIENT_CA_CONFIGMAP = { namespace: "kube-system", name: "extension-apiserver-authentication", key: "client-ca-file" } as const;

/**
 * The API server's client CA (PEM) from the ConfigMap kube-system/extension-apiserver-authentication,
 * key client-ca-file: the CA that signs kubeconfig client certificates. Reading it needs the
 * built-in Role extension-apiserver-authentication-reader in kube-system. Returns the reason
 * instead when it cannot be read (no RBAC, no such ConfigMap, no such key).
 */
export async function clusterClientCa(kc: KubeConfig, timeoutMs = 5000): Promise<{ pem: string } | { reason: string }> {
  const { namespace, name, key } = CLIENT_CA_CONFIGMAP;
  try {
    const cm = await withTimeout(kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ name, namespace }), timeoutMs, `reading ConfigMap ${namespace}/${name}`);
    const pem = cm.data?.[key];
    return pem?.includes("-----BEGIN CERTIFICATE-----") ? { pem } : { reason: `ConfigMap ${namespace}/${name} has no ${key}` };
  } catch (err) {
    return { reason: err instanceof Error ? err.message : String(err) };
  }
}
