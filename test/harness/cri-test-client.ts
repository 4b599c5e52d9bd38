// The CRI RPCs only the test harness makes (sandboxes and containers created, started, stopped and
// removed; images listed): the server's CriClient (src/cri/client.ts) only reads.
import { CriClient, type CallOptions, type CriConnectOptions, type CriMount, type PodSandboxMetadata } from "../../src/cri/client.js";

export type { CriMount };

export type NamespaceMode = "POD" | "CONTAINER" | "NODE" | "TARGET";

export interface NamespaceOption {
  network?: NamespaceMode;
  pid?: NamespaceMode;
  ipc?: NamespaceMode;
  targetId?: string;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: { servers?: string[]; searches?: string[]; options?: string[] };
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: {
    cgroupParent?: string;
    securityContext?: {
      namespaceOptions?: NamespaceOption;
      runAsUser?: { value: number };
      runAsGroup?: { value: number };
      readonlyRootfs?: boolean;
      supplementalGroups?: number[];
      privileged?: boolean;
    };
    sysctls?: Record<string, string>;
  };
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string; annotations?: Record<string, string>; userSpecifiedImage?: string };
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: { key: string; value: string }[];
  mounts?: CriMount[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: {
    securityContext?: {
      capabilities?: { addCapabilities?: string[]; dropCapabilities?: string[] };
      privileged?: boolean;
      namespaceOptions?: NamespaceOption;
      runAsUser?: { value: number };
      runAsUsername?: string;
      runAsGroup?: { value: number };
      readonlyRootfs?: boolean;
      supplementalGroups?: number[];
      noNewPrivs?: boolean;
    };
  };
}

export class CriTestClient extends CriClient {
  static override async connect(socketPath: string, options?: CriConnectOptions): Promise<CriTestClient> {
    return (await super.connect(socketPath, options)) as CriTestClient;
  }

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = "", options?: CallOptions): Promise<string> {
    const r = await this.call<{ podSandboxId: string }>(
      this.runtime,
      "RunPodSandbox",
      { config, runtimeHandler },
      { timeoutMs: options?.timeoutMs ?? Math.max(this.timeoutMs, 60_000) },
    );
    return r.podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string, options?: CallOptions): Promise<void> {
    await this.call(this.runtime, "StopPodSandbox", { podSandboxId }, { timeoutMs: options?.timeoutMs ?? Math.max(this.timeoutMs, 60_000) });
  }

  async removePodSandbox(podSandboxId: string, options?: CallOptions): Promise<void> {
    await this.call(this.runtime, "RemovePodSandbox", { podSandboxId }, { timeoutMs: options?.timeoutMs ?? Math.max(this.timeoutMs, 60_000) });
  }

  /** CreateContainer; sandboxConfig must be the config the sandbox was run with (as the kubelet sends it). */
  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig, options?: CallOptions): Promise<string> {
    const r = await this.call<{ containerId: string }>(
      this.runtime,
      "CreateContainer",
      { podSandboxId, config, sandboxConfig },
      { timeoutMs: options?.timeoutMs ?? Math.max(this.timeoutMs, 60_000) },
    );
    return r.containerId;
  }

  async startContainer(containerId: string, options?: CallOptions): Promise<void> {
    await this.call(this.runtime, "StartContainer", { containerId }, { timeoutMs: options?.timeoutMs ?? Math.max(this.timeoutMs, 60_000) });
  }

  /** Stops a container: SIGTERM, then SIGKILL after timeoutSeconds (0 = kill at once). */
  async stopContainer(containerId: string, timeoutSeconds = 10, options?: CallOptions): Promise<void> {
    await this.call(
      this.runtime,
      "StopContainer",
      { containerId, timeout: timeoutSeconds },
      { timeoutMs: options?.timeoutMs ?? this.timeoutMs + timeoutSeconds * 1000 },
    );
  }

  async removeContainer(containerId: string, options?: CallOptions): Promise<void> {
    await this.call(this.runtime, "RemoveContainer", { containerId }, { timeoutMs: options?.timeoutMs ?? Math.max(this.timeoutMs, 60_000) });
  }

  async listImages(options?: CallOptions): Promise<{ id: string; repoTags: string[]; repoDigests: string[]; size: bigint }[]> {
    const r = await this.call<{ images: { id: string; repoTags: string[]; repoDigests: string[]; size: string }[] }>(
      this.image,
      "ListImages",
      { filter: null },
      options,
    );
    return (r.images ?? []).map((i) => ({ id: i.id, repoTags: i.repoTags ?? [], repoDigests: i.repoDigests ?? [], size: BigInt(i.size) }));
  }

  /** ImageStatus: undefined when the runtime does not have the image. */
  async imageStatus(image: string, options?: CallOptions): Promise<{ id: string; repoTags: string[]; uid: number | undefined; username: string } | undefined> {
    const r = await this.call<{ image: { id: string; repoTags: string[]; uid: { value: string } | null; username: string } | null }>(
      this.image,
      "ImageStatus",
      { image: { image }, verbose: false },
      options,
    );
    if (!r.image?.id) return undefined;
    return {
      id: r.image.id,
      repoTags: r.image.repoTags ?? [],
      uid: r.image.uid ? Number(r.image.uid.value) : undefined,
      username: r.image.username,
    };
  }
}
