// Which node a pod runs on (spec.nodeName), read through the agent's PodSource (one GET) and kept
// a few seconds: a pod never moves between nodes, and a recreated pod of the same name that
// lands elsewhere is at worst forwarded to the old node's agent for those seconds, which answers
// that the pod runs on another node. Bounded in size (a caller naming many pods evicts the oldest).
import type { PodSource } from "./kube-pods.js";

export interface PodPlacementOptions {
  pods: PodSource;
  /** How long a placement is kept (default 5 s). */
  ttlMs?: number;
  /** How many placements are kept (default 10,000). */
  maxEntries?: number;
}

export class PodPlacement {
  private readonly cache = new Map<string, { node: string | undefined; until: number }>();

  constructor(private readonly o: PodPlacementOptions) {}

  /** The pod's node, undefined when not scheduled yet; the PodSource's errors (NOT_FOUND, UNAVAILABLE) otherwise. */
  async nodeOf(namespace: string, pod: string): Promise<string | undefined> {
    const key = `${namespace}/${pod}`;
    const hit = this.cache.get(key);
    const now = performance.now();
    if (hit && hit.until > now) return hit.node;
    const node = (await this.o.pods.getPod(namespace, pod)).spec?.nodeName || undefined;
    this.cache.delete(key);
    if (this.cache.size >= (this.o.maxEntries ?? 10_000)) this.cache.delete(this.cache.keys().next().value!);
    // an unscheduled pod is not kept: it gets a node any moment
    if (node) this.cache.set(key, { node, until: now + (this.o.ttlMs ?? 5000) });
    return node;
  }
}
