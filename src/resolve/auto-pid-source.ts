// PidSource that finds the CRI socket by itself (detectCriSocket over the usual containerd, CRI-O
// and k3s paths) and falls back to the cgroup scan while no socket answers (re-detecting at most
// every retryMs). Once a socket answered, its failures are reported (UNAVAILABLE naming it).
import { DEFAULT_CRI_SOCKETS, detectCriSocket } from "../cri/client.js";
import type { Logger } from "../log.js";
import { CgroupPidSource } from "./cgroup-pid-source.js";
import type { ContainerProcess, PidSource } from "./container-process.js";
import { CriPidSource } from "./cri-pid-source.js";

export interface AutoPidSourceOptions {
  procRoot: string;
  candidates?: readonly string[];
  retryMs?: number;
  logger?: Logger;
}

export class AutoPidSource implements PidSource {
  private cri?: CriPidSource;
  private readonly cgroups: CgroupPidSource;
  private lastTry = -Infinity;
  private detecting?: Promise<CriPidSource | undefined>;

  constructor(private readonly options: AutoPidSourceOptions) {
    this.cgroups = new CgroupPidSource(options.procRoot);
  }

  get description(): string {
    if (this.cri) return this.cri.description;
    // detection is lazy (first resolve): say so rather than claim a failure nothing has seen yet
    const tried = this.lastTry !== -Infinity;
    return `${this.cgroups.description} (${tried ? "no CRI socket answered" : "CRI socket detected on first use, else this"})`;
  }

  private async current(): Promise<PidSource> {
    if (this.cri) return this.cri;
    if (performance.now() - this.lastTry < (this.options.retryMs ?? 30_000)) return this.cgroups;
    this.detecting ??= (async () => {
      this.lastTry = performance.now();
      try {
        const found = await detectCriSocket(this.options.candidates ?? DEFAULT_CRI_SOCKETS);
        this.cri = new CriPidSource(found.socketPath);
        this.options.logger?.info({
          msg: "CRI socket detected",
          socket: found.socketPath,
          runtime: found.version.runtimeName,
          version: found.version.runtimeVersion,
        });
        return this.cri;
      } catch (err) {
        this.options.logger?.warn({
          msg: "no CRI socket answered; resolving containers by cgroup scan",
          error: err instanceof Error ? err.message : String(err),
        });
        return undefined;
      } finally {
        this.detecting = undefined;
      }
    })();
    return (await this.detecting) ?? this.cgroups;
  }

  async locate(containerId: string): Promise<ContainerProcess> {
    return (await this.current()).locate(containerId);
  }

  close(): void {
    this.cri?.close();
  }
}
