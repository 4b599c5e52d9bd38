// Local containers mode (`podfiles serve --cri SOCKET`): namespace/pod/container are the CRI pod
// sandbox metadata namespace/name and the container metadata name, as the kubelet sets them, so a
// local containerd or CRI-O can be browsed without Kubernetes.
import { failedPrecondition, invalidArgument, notFound } from "../errors.js";
import type { ContainerFs } from "../fs/container-fs.js";
import type { CriContainer } from "../cri/client.js";
import { ContainerRoots } from "./container-roots.js";
import { CriPidSource, criFailure } from "./cri-pid-source.js";
import { DEFAULT_CONTAINER_ANNOTATION } from "./pod-container.js";
import { formatName, type ContainerName, type Resolver } from "./resolver.js";

export interface CriPodResolverOptions {
  socketPath: string;
  procRoot?: string;
  strategy?: "auto" | "openat2" | "walk";
}

const stateRank = (c: CriContainer) => (c.state === "CONTAINER_RUNNING" ? 1 : 0);

/** The container to serve among a sandbox's containers: by name (running first, newest attempt), or the default. */
export function pickCriContainer(containers: CriContainer[], wanted: string, defaultName: string | undefined): CriContainer | undefined {
  let name = wanted || defaultName;
  if (!name) {
    const first = [...containers].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0))[0];
    name = first?.name;
  }
  return containers.filter((c) => c.name === name).sort((a, b) => stateRank(b) - stateRank(a) || b.attempt - a.attempt)[0];
}

export class CriPodResolver implements Resolver {
  readonly roots: ContainerRoots;
  private readonly cri: CriPidSource;

  constructor(options: CriPodResolverOptions) {
    this.cri = new CriPidSource(options.socketPath);
    this.roots = new ContainerRoots({ pids: this.cri, procRoot: options.procRoot, strategy: options.strategy });
  }

  get socketPath(): string {
    return this.cri.socketPath;
  }

  /** Asks the runtime its version: fails now, naming the socket, instead of on the first request. */
  async runtimeVersion(): Promise<{ runtimeName: string; runtimeVersion: string }> {
    try {
      return await (await this.cri.connect()).version();
    } catch (err) {
      throw criFailure(err, this.cri.socketPath, "version");
    }
  }

  async resolve(name: ContainerName): Promise<ContainerFs> {
    if (!name.namespace || !name.pod) throw invalidArgument("container.namespace and container.pod are required");
    const what = formatName(name);
    let sandboxes, containers;
    try {
      const client = await this.cri.connect();
      sandboxes = (await client.listPodSandbox()).filter((s) => s.metadata.namespace === name.namespace && s.metadata.name === name.pod);
      const ready = sandboxes.filter((s) => s.state === "SANDBOX_READY").sort((a, b) => (a.createdAt > b.createdAt ? -1 : 1));
      if (sandboxes.length === 0)
        throw notFound(`pod ${name.namespace}/${name.pod} not found (no CRI pod sandbox with that namespace and name at unix:${this.cri.socketPath})`);
      if (ready.length === 0) throw failedPrecondition(`pod ${name.namespace}/${name.pod} is not running (its sandbox is not ready)`);
      const sandbox = ready[0]!;
      containers = await client.listContainers({ podSandboxId: sandbox.id });
      const chosen = pickCriContainer(containers, name.container, sandbox.annotations[DEFAULT_CONTAINER_ANNOTATION]);
      if (!chosen) {
        const names = [...new Set(containers.map((c) => c.name))].join(", ") || "none";
        throw notFound(`container ${what} not found (the pod has: ${names})`);
      }
      if (chosen.state !== "CONTAINER_RUNNING") {
        throw failedPrecondition(`container ${what} is not running (state ${chosen.state.replace(/^CONTAINER_/, "").toLowerCase()})`);
      }
      return await this.roots.get(chosen.id);
    } catch (err) {
      throw criFailure(err, this.cri.socketPath, `container ${what}`);
    }
  }

  async close(): Promise<void> {
    await this.roots.close();
  }
}
