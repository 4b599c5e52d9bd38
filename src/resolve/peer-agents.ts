// Where the podfiles agent of each node is: the DaemonSet's own pods (agent namespace + label
// selector), kept by an informer (one List, then a watch; never a List per call), as node name →
// a ready agent pod's IP and the agents' port. A restarted agent (new pod, new IP) is picked up
// from the watch; a node whose agent is gone or not ready gets FAILED_PRECONDITION naming it.
import { CoreV1Api, makeInformer, type Informer, type KubeConfig, type ObjectCache, type V1Pod } from "@kubernetes/client-node";
import { failedPrecondition } from "../errors.js";
import type { Logger } from "../log.js";

/** The informer's two faces: events in, the cached pods out (client-node's ListWatch is both). */
export type PodInformer = Informer<V1Pod> & ObjectCache<V1Pod>;

export interface AgentAddress {
  node: string;
  /** host:port of the agent on that node. */
  address: string;
}

export interface PeerAgentsOptions {
  informer: PodInformer;
  /** The port every agent listens on (the DaemonSet's: this agent's own). */
  port: number;
  logger?: Logger;
  /** Wait before restarting the watch after an error (default 2 s; client-node's informer stops on error). */
  restartDelayMs?: number;
}

const isReady = (p: V1Pod) =>
  !p.metadata?.deletionTimestamp &&
  !!p.status?.podIP &&
  p.status?.phase === "Running" &&
  !!p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");

export class PeerAgents {
  private stopped = false;
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: PeerAgentsOptions) {
    o.informer.on("error", (err?: unknown) => {
      if (this.stopped) return;
      o.logger?.warn({ msg: "agent pod watch failed; restarting", error: String((err as Error)?.message ?? err), inMs: o.restartDelayMs ?? 2000 });
      this.timer = setTimeout(() => void this.start().catch(() => undefined), o.restartDelayMs ?? 2000);
      this.timer.unref();
    });
  }

  /** Lists once and starts watching (resolves after the first list). */
  async start(): Promise<void> {
    if (this.stopped) return;
    await this.o.informer.start();
  }

  /** The ready agent on the node (the newest when a rollout briefly runs two); FAILED_PRECONDITION when none. */
  agentOn(node: string): AgentAddress {
    const pod = this.readyOn(node);
    if (!pod) throw failedPrecondition(`no ready podfiles agent on node ${node}`);
    const ip = pod.status!.podIP!;
    return { node, address: `${ip.includes(":") ? `[${ip}]` : ip}:${this.o.port}` };
  }

  /** Whether the node has a ready agent now (the informer's view: no API call). */
  hasReadyAgent(node: string): boolean {
    return this.readyOn(node) !== undefined;
  }

  private readyOn(node: string): V1Pod | undefined {
    return this.o.informer
      .list()
      .filter((p) => p.spec?.nodeName === node && isReady(p))
      .sort((x, y) => String(y.metadata?.creationTimestamp ?? "").localeCompare(String(x.metadata?.creationTimestamp ?? "")))[0];
  }

  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.o.informer.stop();
  }
}

/** The informer over the agents' pods in their namespace, by label selector. */
export function agentPodInformer(kc: KubeConfig, namespace: string, labelSelector: string): PodInformer {
  const api = kc.makeApiClient(CoreV1Api);
  return makeInformer<V1Pod>(
    kc,
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
    () => api.listNamespacedPod({ namespace, labelSelector }),
    labelSelector,
  ) as PodInformer;
}
