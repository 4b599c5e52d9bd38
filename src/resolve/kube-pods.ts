// Reads pods from the Kubernetes API (@kubernetes/client-node): in-cluster config, or a
// kubeconfig and context chosen as kubectl chooses them.
import { ApiException, CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { notFound, unavailable } from "../errors.js";

export interface PodSource {
  /** The pod; NOT_FOUND when it does not exist, UNAVAILABLE when the API cannot be asked. */
  getPod(namespace: string, name: string): Promise<V1Pod>;
  /** One page of pods ("" = every namespace); `next` continues the list. UNAVAILABLE when the API cannot be asked. */
  listPods?(namespace: string, limit: number, next?: string): Promise<PodPage>;
}

export interface PodPage {
  pods: V1Pod[];
  /** The continue token of the next page; undefined on the last. */
  next?: string;
}

export interface KubeConfigOptions {
  /** A kubeconfig file; default: $KUBECONFIG, ~/.kube/config, else in-cluster. */
  kubeconfig?: string;
  context?: string;
}

/** Loads the client config like kubectl: --kubeconfig, else $KUBECONFIG / ~/.kube/config / in-cluster. */
export function loadKubeConfig(o: KubeConfigOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
  else kc.loadFromDefault();
  if (o.context) {
    if (!kc.getContextObject(o.context)) throw new Error(`--context ${o.context}: no such context in the kubeconfig`);
    kc.setCurrentContext(o.context);
  }
  if (!kc.getCurrentCluster()) throw new Error("no Kubernetes cluster configured (no kubeconfig and not running in a cluster)");
  return kc;
}

export class KubePodSource implements PodSource {
  private readonly api: CoreV1Api;
  readonly server: string;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.server = kc.getCurrentCluster()?.server ?? "";
  }

  async getPod(namespace: string, name: string): Promise<V1Pod> {
    try {
      return await this.api.readNamespacedPod({ namespace, name });
    } catch (err) {
      const code = err instanceof ApiException ? err.code : undefined;
      if (code === 404) throw notFound(`pod ${namespace}/${name} not found`);
      if (code === 401 || code === 403) {
        throw unavailable(`the agent may not read pod ${namespace}/${name} from ${this.server} (HTTP ${code}; check its RBAC)`, err);
      }
      const detail = err instanceof Error ? err.message.split("\n")[0] : String(err);
      throw unavailable(`Kubernetes API ${this.server} unreachable reading pod ${namespace}/${name}: ${detail}`, err);
    }
  }

  async listPods(namespace: string, limit: number, next?: string): Promise<PodPage> {
    const where = namespace ? `in namespace ${namespace}` : "in all namespaces";
    try {
      const page = namespace
        ? await this.api.listNamespacedPod({ namespace, limit, _continue: next })
        : await this.api.listPodForAllNamespaces({ limit, _continue: next });
      return { pods: page.items, next: page.metadata?._continue || undefined };
    } catch (err) {
      const code = err instanceof ApiException ? err.code : undefined;
      if (code === 401 || code === 403) throw unavailable(`the agent may not list pods ${where} from ${this.server} (HTTP ${code}; check its RBAC)`, err);
      const detail = err instanceof Error ? err.message.split("\n")[0] : String(err);
      throw unavailable(`Kubernetes API ${this.server} unreachable listing pods ${where}: ${detail}`, err);
    }
  }
}
