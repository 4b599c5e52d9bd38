// ListContainers on Kubernetes: the pods of a namespace (or of every namespace) read page by page
// from the API server, each regular container as a ContainerListing. Bounded: pages of
// LIST_PAGE_SIZE pods and at most MAX_LISTED_PODS per call, so a caller cannot make one call
// hold an unbounded list (a pod object is a few KiB: 5,000 of them are ~20 MiB at most in flight
// page by page, one page at a time).
import type { V1Pod } from "@kubernetes/client-node";
import type { PodSource } from "./kube-pods.js";
import { DEFAULT_CONTAINER_ANNOTATION } from "./pod-container.js";
import type { ContainerFilter, ContainerListing } from "./resolver.js";

export const LIST_PAGE_SIZE = 500;
export const MAX_LISTED_PODS = 5000;

/** The regular containers of a pod (init and ephemeral ones are not what a person browses). */
export function podListings(pod: V1Pod): ContainerListing[] {
  const namespace = pod.metadata?.namespace ?? "";
  const name = pod.metadata?.name ?? "";
  const containers = pod.spec?.containers ?? [];
  const defaultName = pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION] || containers[0]?.name;
  const statuses = pod.status?.containerStatuses ?? [];
  return containers.map((c) => ({
    namespace,
    pod: name,
    container: c.name,
    node: pod.spec?.nodeName ?? "",
    running: !pod.metadata?.deletionTimestamp && !!statuses.find((s) => s.name === c.name)?.state?.running,
    defaultContainer: c.name === defaultName,
    image: c.image ?? "",
  }));
}

/** The containers of the pods the source lists, one page at a time (stops after MAX_LISTED_PODS pods). */
export async function* listPodContainers(
  pods: PodSource,
  filter: ContainerFilter,
  signal?: AbortSignal,
  limits = { pageSize: LIST_PAGE_SIZE, maxPods: MAX_LISTED_PODS },
): AsyncGenerator<ContainerListing[]> {
  if (!pods.listPods) return;
  let next: string | undefined;
  let seen = 0;
  do {
    signal?.throwIfAborted();
    const page = await pods.listPods(filter.namespace, Math.min(limits.pageSize, limits.maxPods - seen), next);
    const kept = page.pods.slice(0, limits.maxPods - seen);
    seen += kept.length;
    yield kept.flatMap(podListings);
    next = page.next;
  } while (next && seen < limits.maxPods);
}
