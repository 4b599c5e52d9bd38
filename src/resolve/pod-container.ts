// From a Kubernetes pod to the container to serve: the named container's status (regular, init
// or ephemeral), or the default container; its runtime container ID; clear errors for every
// reason there is none.
import type { V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import { failedPrecondition, notFound, unavailable } from "../errors.js";

export const DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container";

export interface PodContainer {
  name: string;
  /** Without the runtime prefix ("containerd://", "cri-o://"). */
  containerId: string;
  /** The runtime prefix ("containerd", "cri-o", "docker"). */
  runtime: string;
}

/** The container a request names: the given name, else the default-container annotation, else the first container. */
export function containerNameFor(pod: V1Pod, wanted: string): string {
  if (wanted) return wanted;
  const annotated = pod.metadata?.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated) return annotated;
  const first = pod.spec?.containers?.[0]?.name;
  if (!first) throw failedPrecondition(`pod ${pod.metadata?.namespace}/${pod.metadata?.name} has no containers`);
  return first;
}

function describeState(s: V1ContainerStatus): string {
  const st = s.state;
  if (st?.waiting) return `waiting${st.waiting.reason ? ` (reason ${st.waiting.reason}${st.waiting.message ? `: ${st.waiting.message}` : ""})` : ""}`;
  if (st?.terminated) {
    const t = st.terminated;
    return `terminated (reason ${t.reason ?? "unknown"}, exit code ${t.exitCode})`;
  }
  return "not running (no state reported yet)";
}

/**
 * Checks the pod runs on this node and the container is running; returns its container ID.
 * NOT_FOUND: no such container in the pod. FAILED_PRECONDITION: waiting / terminated / not
 * started. UNAVAILABLE: the pod is on another node (names it) or not scheduled.
 */
export function podContainer(pod: V1Pod, wanted: string, nodeName: string | undefined): PodContainer {
  const podName = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
  const name = containerNameFor(pod, wanted);
  const spec = pod.spec;
  const declared = [
    ...(spec?.containers ?? []).map((c) => c.name),
    ...(spec?.initContainers ?? []).map((c) => c.name),
    ...(spec?.ephemeralContainers ?? []).map((c) => c.name),
  ];
  if (!declared.includes(name)) {
    throw notFound(`container ${name} not found in pod ${podName} (it has: ${declared.join(", ") || "none"})`);
  }
  if (!spec?.nodeName) throw unavailable(`pod ${podName} is not scheduled to a node yet (phase ${pod.status?.phase ?? "unknown"})`);
  if (nodeName && spec.nodeName !== nodeName) {
    throw unavailable(`pod ${podName} runs on node ${spec.nodeName}, not on this agent's node ${nodeName}`);
  }
  const status = pod.status;
  const statuses = [...(status?.containerStatuses ?? []), ...(status?.initContainerStatuses ?? []), ...(status?.ephemeralContainerStatuses ?? [])];
  const s = statuses.find((x) => x.name === name);
  if (!s) throw failedPrecondition(`container ${name} in pod ${podName} has not been created yet (pod phase ${status?.phase ?? "unknown"})`);
  if (!s.state?.running) throw failedPrecondition(`container ${name} in pod ${podName} is ${describeState(s)}`);
  const m = /^([a-z0-9.-]+):\/\/([0-9a-f]{12,})$/i.exec(s.containerID ?? "");
  if (!m) throw failedPrecondition(`container ${name} in pod ${podName} has no container ID yet`);
  return { name, runtime: m[1]!, containerId: m[2]! };
}
