// The node agent: a FileService for the containers on this node. namespace/pod/container is
// resolved through the Kubernetes API (pod → container ID, on this node), the container runtime
// (CRI ContainerStatus verbose → PID, or a cgroup scan) and <procRoot>/<pid>/root.
import type { Logger } from "../log.js";
import { AutoPidSource } from "../resolve/auto-pid-source.js";
import { CgroupPidSource } from "../resolve/cgroup-pid-source.js";
import type { PidSource } from "../resolve/container-process.js";
import { ContainerRoots } from "../resolve/container-roots.js";
import { CriPidSource } from "../resolve/cri-pid-source.js";
import { KubePodSource, loadKubeConfig, type PodSource } from "../resolve/kube-pods.js";
import { KubeResolver } from "../resolve/kube-resolver.js";

export interface AgentResolverOptions {
  /** CRI socket path; undefined = auto-detect (cgroup scan while none answers); "none" = cgroup scan only. */
  criSocket?: string;
  /** Host /proc as the agent sees it (/host/proc in the DaemonSet). */
  procRoot: string;
  kubeconfig?: string;
  context?: string;
  /** This node; pods on other nodes are refused (UNAVAILABLE). */
  nodeName?: string;
  /** Pods from somewhere else than the API server of the kubeconfig (tests). */
  pods?: PodSource;
  logger?: Logger;
}

export function pidSourceFor(o: Pick<AgentResolverOptions, "criSocket" | "procRoot" | "logger">): PidSource {
  if (o.criSocket === "none") return new CgroupPidSource(o.procRoot);
  if (o.criSocket) return new CriPidSource(o.criSocket);
  return new AutoPidSource({ procRoot: o.procRoot, logger: o.logger });
}

export function createAgentResolver(o: AgentResolverOptions): KubeResolver {
  const pods = o.pods ?? new KubePodSource(loadKubeConfig({ kubeconfig: o.kubeconfig, context: o.context }));
  const roots = new ContainerRoots({ pids: pidSourceFor(o), procRoot: o.procRoot });
  return new KubeResolver({ pods, roots, nodeName: o.nodeName });
}
