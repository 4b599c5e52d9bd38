// The second seam: which filesystem a ContainerRef names. Implementations:
// LocalResolver (one local directory presented as a container); the node
// agent adds resolvers for CRI containers, peer agents and exec fallback.
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
}

export const formatName = (n: ContainerName) => `${n.namespace}/${n.pod}/${n.container || "(default)"}`;
