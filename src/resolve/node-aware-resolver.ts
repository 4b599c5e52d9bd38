// The agent's resolver with --exec-fallback: a pod on this node → the local resolver (its files
// through /proc/<pid>/root); a pod on a node that has no ready podfiles agent → the exec resolver
// (ExecFs: commands in the container through the API server's pods/exec); anything else (a pod on
// a node whose agent is ready, an unscheduled pod) → the local resolver, which answers the error
// it always has (UNAVAILABLE naming the pod's node). The route forwards calls for pods on nodes
// with a ready agent before they get here, so the last case is a forwarded call or a race with an
// agent becoming ready.
import { invalidArgument } from "../errors.js";
import type { ContainerFs } from "../fs/container-fs.js";
import type { ContainerFilter, ContainerListing, ContainerName, Resolver } from "./resolver.js";

export interface NodeAwareResolverOptions {
  /** This agent's node. */
  self: string;
  /** The pod's node (undefined: not scheduled); throws the PodSource's errors (NOT_FOUND, UNAVAILABLE). */
  nodeOf(namespace: string, pod: string): Promise<string | undefined>;
  /** Whether that node has a ready agent (PeerAgents.hasReadyAgent). */
  hasReadyAgent(node: string): boolean;
  /** This node's pods (KubeResolver). */
  local: Resolver;
  /** Pods on nodes without an agent (ExecResolver). */
  exec: Resolver;
  /** Told each time a container is served through exec (the agent logs it). */
  onExec?: (name: ContainerName, node: string) => void;
}

export class NodeAwareResolver implements Resolver {
  constructor(private readonly o: NodeAwareResolverOptions) {}

  /** "exec" when the pod's node is another one and has no ready agent, else "local". */
  async pathFor(name: ContainerName): Promise<{ via: "local" } | { via: "exec"; node: string }> {
    if (!name.namespace || !name.pod) throw invalidArgument("container.namespace and container.pod are required");
    const node = await this.o.nodeOf(name.namespace, name.pod);
    return node && node !== this.o.self && !this.o.hasReadyAgent(node) ? { via: "exec", node } : { via: "local" };
  }

  async resolve(name: ContainerName, signal?: AbortSignal): Promise<ContainerFs> {
    const path = await this.pathFor(name);
    if (path.via === "local") return this.o.local.resolve(name, signal);
    this.o.onExec?.(name, path.node);
    return this.o.exec.resolve(name, signal);
  }

  /** The local resolver lists the pods of every node (exec reaches the same pods). */
  listContainers(filter: ContainerFilter, signal?: AbortSignal): AsyncIterable<ContainerListing[]> {
    if (!this.o.local.listContainers) return (async function* () {})();
    return this.o.local.listContainers(filter, signal);
  }

  async close(): Promise<void> {
    await Promise.all([this.o.local.close(), this.o.exec.close()]);
  }
}
