// The agent's resolver: namespace/pod/container → the pod (Kubernetes API) → the container's ID
// (its status, on this node) → its first process (CRI or cgroup scan) → /proc/<pid>/root.
import { invalidArgument } from "../errors.js";
import type { ContainerFs } from "../fs/container-fs.js";
import type { ContainerRoots } from "./container-roots.js";
import type { PodSource } from "./kube-pods.js";
import { podContainer } from "./pod-container.js";
import { listPodContainers } from "./pod-listings.js";
import type { ContainerFilter, ContainerListing, ContainerName, Resolver } from "./resolver.js";

export interface KubeResolverOptions {
  pods: PodSource;
  roots: ContainerRoots;
  /** This node's name (NODE_NAME from the downward API); pods elsewhere get UNAVAILABLE. */
  nodeName?: string;
}

export class KubeResolver implements Resolver {
  constructor(private readonly options: KubeResolverOptions) {}

  get roots(): ContainerRoots {
    return this.options.roots;
  }

  async resolve(name: ContainerName): Promise<ContainerFs> {
    if (!name.namespace || !name.pod) throw invalidArgument("container.namespace and container.pod are required");
    // the pod is read on every call: it is the source of truth for which container ID is current
    const pod = await this.options.pods.getPod(name.namespace, name.pod);
    const { containerId } = podContainer(pod, name.container, this.options.nodeName);
    return this.options.roots.get(containerId);
  }

  /** Pods of every node (the agents forward to each other): what the caller may read is the handler's filter. */
  listContainers(filter: ContainerFilter, signal?: AbortSignal): AsyncIterable<ContainerListing[]> {
    return listPodContainers(this.options.pods, filter, signal);
  }

  async close(): Promise<void> {
    await this.options.roots.close();
  }
}
