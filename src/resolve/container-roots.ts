// container ID → a RootFs over <procRoot>/<pid>/root, cached, never used stale: every get()
// checks that the cached PID is still the process we resolved (same start time, still in the
// container's cgroup). A dead or reused PID (restarted or stopped container) drops the entry
// and resolves again, so a request never goes into another process's root.
import { RootFs } from "../fs/root/root-fs.js";
import type { PidSource } from "./container-process.js";
import { readIdentity, stillContainerProcess } from "./proc-identity.js";
import { unavailable } from "../errors.js";

interface Entry {
  containerId: string;
  pid: number;
  startTime: bigint;
  fs: RootFs;
}

export interface ContainerRootsOptions {
  pids: PidSource;
  /** Host /proc as this process sees it: /proc, or /host/proc in the DaemonSet. */
  procRoot?: string;
  /** Confinement strategy for each RootFs. */
  strategy?: "auto" | "openat2" | "walk";
  /** How many container roots stay open (least recently used are closed). Default 256. */
  maxEntries?: number;
}

export interface RootsStats {
  hits: number;
  misses: number;
  stale: number;
}

export class ContainerRoots {
  readonly procRoot: string;
  readonly stats: RootsStats = { hits: 0, misses: 0, stale: 0 };
  private readonly entries = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();

  constructor(private readonly options: ContainerRootsOptions) {
    this.procRoot = options.procRoot ?? "/proc";
  }

  get pidSource(): PidSource {
    return this.options.pids;
  }

  /** The root of a running container; throws FileServiceError when it has none. */
  async get(containerId: string): Promise<RootFs> {
    const cached = this.entries.get(containerId);
    if (cached) {
      if (await stillContainerProcess(this.procRoot, cached.pid, containerId, cached.startTime)) {
        this.stats.hits++;
        // LRU order
        this.entries.delete(containerId);
        this.entries.set(containerId, cached);
        return cached.fs;
      }
      this.stats.stale++;
      this.drop(cached);
    }
    this.stats.misses++;
    let p = this.pending.get(containerId);
    if (!p) {
      p = this.open(containerId).finally(() => this.pending.delete(containerId));
      this.pending.set(containerId, p);
    }
    return (await p).fs;
  }

  private async open(containerId: string): Promise<Entry> {
    const { pid, owner } = await this.options.pids.locate(containerId);
    const before = await readIdentity(this.procRoot, pid);
    const ok = (start: bigint) => stillContainerProcess(this.procRoot, pid, containerId, start);
    if (!before || !(await ok(before.startTime))) {
      throw unavailable(`container ${containerId}: PID ${pid} is gone or not in the container's cgroup (container restarting?); retry`);
    }
    const fs = new RootFs({
      root: `${this.procRoot}/${pid}/root`,
      defaultOwner: owner,
      strategy: this.options.strategy,
      description: `container ${containerId.slice(0, 12)} pid ${pid}`,
    });
    // the root opened above belongs to that same process only if it is still alive afterwards
    if (!(await ok(before.startTime))) {
      await fs.close();
      throw unavailable(`container ${containerId}: PID ${pid} exited while its root was opened; retry`);
    }
    const entry: Entry = { containerId, pid, startTime: before.startTime, fs };
    const old = this.entries.get(containerId);
    if (old) this.drop(old);
    this.entries.set(containerId, entry);
    this.evict();
    return entry;
  }

  private evict(): void {
    const max = this.options.maxEntries ?? 256;
    while (this.entries.size > max) {
      const oldest = this.entries.values().next().value as Entry;
      this.drop(oldest);
    }
  }

  private drop(e: Entry): void {
    if (this.entries.get(e.containerId) === e) this.entries.delete(e.containerId);
    // calls that already hold this RootFs fail with EBADF from now on rather than touch another root
    void e.fs.close();
  }

  /** Cached container IDs (for tests and diagnostics). */
  cachedIds(): string[] {
    return [...this.entries.keys()];
  }

  async close(): Promise<void> {
    for (const e of [...this.entries.values()]) this.drop(e);
    this.options.pids.close();
  }
}
