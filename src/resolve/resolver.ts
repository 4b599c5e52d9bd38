// The second seam: which filesystem a ContainerRef names. Implementations:
// LocalResolver (one local directory presented as a container), CriPodResolver
// (`serve --cri`: the containers of a local runtime) and KubeResolver (the node
// agent: pods of this node, built by agent-resolver.ts).
import type { ContainerRef } from "../../gen/ts/podfiles/v1/files_pb.js";
import { invalidArgument } from "../errors.js";
import type { ContainerFs } from "../fs/container-fs.js";

export interface ContainerName {
  namespace: string;
  pod: string;
  /** "" = the pod's default container. */
  container: string;
}

export interface Resolver {
  /** The filesystem of the named container; throws a FileServiceError (NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE) when it cannot. */
  resolve(name: ContainerName, signal?: AbortSignal): Promise<ContainerFs>;
  close(): Promise<void>;
  /**
   * The containers this resolver can serve, page by page (optional: a resolver without it answers
   * ListContainers with FAILED_PRECONDITION). Every container, unfiltered: the handler keeps only
   * what the caller may read.
   */
  listContainers?(filter: ContainerFilter, signal?: AbortSignal): AsyncIterable<ContainerListing[]>;
}

export interface ContainerFilter {
  /** Only this namespace; "" = every namespace. */
  namespace: string;
}

/** One container as ListContainers reports it (ContainerInfo). */
export interface ContainerListing {
  namespace: string;
  pod: string;
  container: string;
  /** "" when there are no nodes (local mode). */
  node: string;
  running: boolean;
  /** What an empty ContainerRef.container means for this pod. */
  defaultContainer: boolean;
  image: string;
}

export const formatName = (n: ContainerName) => `${n.namespace}/${n.pod}/${n.container || "(default)"}`;

/** The ContainerName a request's ContainerRef names, or INVALID_ARGUMENT without namespace and pod. */
export function containerName(ref: ContainerRef | undefined): ContainerName {
  if (!ref?.namespace || !ref.pod) throw invalidArgument("container.namespace and container.pod are required");
  return { namespace: ref.namespace, pod: ref.pod, container: ref.container };
}
