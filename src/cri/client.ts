/**
 * A small client for the Kubernetes Container Runtime Interface (runtime.v1) over a unix socket,
 * built on @grpc/grpc-js and @grpc/proto-loader with the subset of the API in cri-subset.proto.
 *
 * The agent uses it to turn a container ID into the host PID of the container's first process
 * (ContainerStatus with verbose=true: info["info"] is a JSON document whose "pid" is that PID), and
 * `serve --cri` to list pod sandboxes and containers. The RPCs that run pods the way the kubelet
 * does (for the real-container tests) are in test/harness/cri-test-client.ts.
 *
 * Every error thrown here is a CriError that names the socket and the RPC.
 */
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/** Where containerd, CRI-O and k3s put their CRI sockets, and the same under a /host mount. */
export const DEFAULT_CRI_SOCKETS: readonly string[] = (() => {
  const base = [
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
    "/run/k3s/containerd/containerd.sock",
  ];
  return [...base, ...base.map((p) => `/host${p}`)];
})();

export type ContainerState = "CONTAINER_CREATED" | "CONTAINER_RUNNING" | "CONTAINER_EXITED" | "CONTAINER_UNKNOWN";
export type PodSandboxState = "SANDBOX_READY" | "SANDBOX_NOTREADY";
export type MountPropagation = "PROPAGATION_PRIVATE" | "PROPAGATION_HOST_TO_CONTAINER" | "PROPAGATION_BIDIRECTIONAL";

export interface CriVersion {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

export interface CriMount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  selinuxRelabel?: boolean;
  propagation?: MountPropagation;
  recursiveReadOnly?: boolean;
}

export interface PodSandboxFilter {
  id?: string;
  state?: PodSandboxState;
  labelSelector?: Record<string, string>;
}

export interface ContainerFilter {
  id?: string;
  state?: ContainerState;
  podSandboxId?: string;
  labelSelector?: Record<string, string>;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: PodSandboxState;
  /** nanoseconds since the epoch */
  createdAt: bigint;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}

export interface CriContainer {
  id: string;
  podSandboxId: string;
  name: string;
  attempt: number;
  image: string;
  imageRef: string;
  state: ContainerState;
  createdAt: bigint;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface CriContainerStatus {
  id: string;
  name: string;
  attempt: number;
  state: ContainerState;
  /** nanoseconds since the epoch; 0n when not applicable */
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  image: string;
  imageRef: string;
  imageId: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  mounts: CriMount[];
  logPath: string;
  /**
   * Host PID of the container's first process, from the verbose info (containerd and CRI-O both
   * report it in info["info"].pid). undefined when not verbose or not reported; containerd keeps
   * reporting the last PID after the container exited, so check `state` before trusting it.
   */
  pid: number | undefined;
  /** Pod sandbox ID from the verbose info (containerd: sandboxID), else undefined. */
  sandboxId: string | undefined;
  /** OCI runtime spec linux.cgroupsPath from the verbose info, else undefined. */
  cgroupsPath: string | undefined;
  /** The verbose info as the runtime sent it (values are JSON strings). */
  info: Record<string, string>;
  /** info["info"] parsed, when present and valid JSON. */
  runtimeInfo: Record<string, unknown> | undefined;
}

export class CriError extends Error {
  readonly socketPath: string;
  readonly method: string;
  /** gRPC status code when the runtime answered with one (grpc.status.*). */
  readonly code: grpc.status | undefined;
  readonly details: string;

  constructor(socketPath: string, method: string, details: string, code?: grpc.status, options?: { cause?: unknown }) {
    const codeName = code === undefined ? "" : ` (${grpc.status[code] ?? code})`;
    super(`CRI ${method} on unix:${socketPath} failed${codeName}: ${details}`, options);
    this.name = "CriError";
    this.socketPath = socketPath;
    this.method = method;
    this.code = code;
    this.details = details;
  }
}

export interface CriConnectOptions {
  /** Deadline for connecting and, by default, for each call. Default 10 s. */
  timeoutMs?: number;
  /** Another .proto declaring runtime.v1 (e.g. the upstream api.proto). Default: cri-subset.proto. */
  protoPath?: string;
}

export interface CallOptions {
  /** Deadline for this call in ms; defaults to the client's timeoutMs. */
  timeoutMs?: number;
}

const PROTO_FILE = "cri-subset.proto";

/** Finds cri-subset.proto next to this module, or in src/cri when running from a tsc build (dist/src/cri). */
export function defaultCriProtoPath(): string {
  const candidates = [new URL(`./${PROTO_FILE}`, import.meta.url), new URL(`../../../src/cri/${PROTO_FILE}`, import.meta.url)].map((u) => fileURLToPath(u));
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(`${PROTO_FILE} not found (looked in ${candidates.join(", ")})`);
}

type ServiceCtor = grpc.ServiceClientConstructor;
const definitionCache = new Map<string, { runtime: ServiceCtor; image: ServiceCtor }>();

function loadServices(protoPath: string): { runtime: ServiceCtor; image: ServiceCtor } {
  let cached = definitionCache.get(protoPath);
  if (!cached) {
    const def = protoLoader.loadSync(protoPath, {
      keepCase: false,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      runtime: { v1: { RuntimeService: ServiceCtor; ImageService: ServiceCtor } };
    };
    cached = { runtime: pkg.runtime.v1.RuntimeService, image: pkg.runtime.v1.ImageService };
    definitionCache.set(protoPath, cached);
  }
  return cached;
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // the kubelet allows 16 MiB CRI responses; ListContainers on a busy node can exceed 4 MiB
  "grpc.max_receive_message_length": 16 * 1024 * 1024,
  "grpc.max_send_message_length": 16 * 1024 * 1024,
  // fail fast instead of backing off for minutes when the runtime restarts
  "grpc.initial_reconnect_backoff_ms": 100,
  "grpc.max_reconnect_backoff_ms": 1000,
};

// Raw (proto-loader) shapes, as decoded with longs: String, enums: String, defaults: true.
interface RawMetadata {
  name: string;
  uid?: string;
  namespace?: string;
  attempt: number;
}
interface RawPodSandbox {
  id: string;
  metadata: RawMetadata | null;
  state: PodSandboxState;
  createdAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtimeHandler: string;
}
interface RawContainer {
  id: string;
  podSandboxId: string;
  metadata: RawMetadata | null;
  image: { image: string } | null;
  imageRef: string;
  state: ContainerState;
  createdAt: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface RawContainerStatus {
  id: string;
  metadata: RawMetadata | null;
  state: ContainerState;
  createdAt: string;
  startedAt: string;
  finishedAt: string;
  exitCode: number;
  image: { image: string } | null;
  imageRef: string;
  imageId: string;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  mounts: CriMount[];
  logPath: string;
}

const big = (s: string | number | undefined): bigint => (s === undefined || s === "" ? 0n : BigInt(s));

function toPodSandbox(r: RawPodSandbox): PodSandbox {
  return {
    id: r.id,
    metadata: {
      name: r.metadata?.name ?? "",
      uid: r.metadata?.uid ?? "",
      namespace: r.metadata?.namespace ?? "",
      attempt: r.metadata?.attempt ?? 0,
    },
    state: r.state,
    createdAt: big(r.createdAt),
    labels: r.labels ?? {},
    annotations: r.annotations ?? {},
    runtimeHandler: r.runtimeHandler ?? "",
  };
}

/** Parses the verbose info of ContainerStatus: pid, sandbox ID and cgroups path. */
export function parseContainerInfo(info: Record<string, string>): {
  runtimeInfo: Record<string, unknown> | undefined;
  pid: number | undefined;
  sandboxId: string | undefined;
  cgroupsPath: string | undefined;
} {
  const raw = info["info"];
  if (!raw) return { runtimeInfo: undefined, pid: undefined, sandboxId: undefined, cgroupsPath: undefined };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return { runtimeInfo: undefined, pid: undefined, sandboxId: undefined, cgroupsPath: undefined };
  }
  if (typeof parsed !== "object" || parsed === null) {
    return { runtimeInfo: undefined, pid: undefined, sandboxId: undefined, cgroupsPath: undefined };
  }
  const obj = parsed as Record<string, unknown>;
  const pidValue = obj["pid"];
  const pid = typeof pidValue === "number" && Number.isInteger(pidValue) && pidValue > 0 ? pidValue : undefined;
  const sandboxValue = obj["sandboxID"] ?? obj["sandboxId"];
  const spec = obj["runtimeSpec"] as { linux?: { cgroupsPath?: unknown } } | undefined;
  const cg = spec?.linux?.cgroupsPath;
  return {
    runtimeInfo: obj,
    pid,
    sandboxId: typeof sandboxValue === "string" ? sandboxValue : undefined,
    cgroupsPath: typeof cg === "string" ? cg : undefined,
  };
}

export class CriClient {
  readonly socketPath: string;
  readonly timeoutMs: number;
  protected readonly runtime: grpc.Client;
  protected readonly image: grpc.Client;

  protected constructor(socketPath: string, timeoutMs: number, runtime: grpc.Client, image: grpc.Client) {
    this.socketPath = socketPath;
    this.timeoutMs = timeoutMs;
    this.runtime = runtime;
    this.image = image;
  }

  /**
   * Opens a channel to the CRI socket and waits until it is connected (not until the runtime
   * answers an RPC: call version() for that). Rejects with a CriError naming the socket.
   */
  static async connect(socketPath: string, options: CriConnectOptions = {}): Promise<CriClient> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    let st;
    try {
      st = statSync(socketPath);
    } catch (err) {
      throw new CriError(socketPath, "connect", `no such socket (${(err as NodeJS.ErrnoException).code ?? err})`, undefined, {
        cause: err,
      });
    }
    if (!st.isSocket()) throw new CriError(socketPath, "connect", "not a unix socket");
    const services = loadServices(options.protoPath ?? defaultCriProtoPath());
    const target = `unix://${socketPath}`;
    const creds = grpc.credentials.createInsecure();
    const runtime = new services.runtime(target, creds, CHANNEL_OPTIONS);
    // share one channel between the two services
    const image = new services.image(target, creds, { ...CHANNEL_OPTIONS, channelOverride: runtime.getChannel() });
    await new Promise<void>((resolve, reject) => {
      runtime.waitForReady(Date.now() + timeoutMs, (err) => {
        if (err) {
          runtime.close();
          reject(new CriError(socketPath, "connect", `not connected within ${timeoutMs} ms: ${err.message}`, undefined, { cause: err }));
        } else resolve();
      });
    });
    return new this(socketPath, timeoutMs, runtime, image);
  }

  close(): void {
    this.runtime.close();
  }

  protected call<Res>(client: grpc.Client, method: string, request: object, options: CallOptions = {}): Promise<Res> {
    const fn = (client as unknown as Record<string, unknown>)[method];
    if (typeof fn !== "function") return Promise.reject(new CriError(this.socketPath, method, "no such method in the loaded proto"));
    const deadline = Date.now() + (options.timeoutMs ?? this.timeoutMs);
    return new Promise<Res>((resolve, reject) => {
      (fn as (req: object, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void).call(
        client,
        request,
        new grpc.Metadata(),
        { deadline },
        (err, res) => {
          if (err) reject(new CriError(this.socketPath, method, err.details || err.message, err.code, { cause: err }));
          else resolve(res);
        },
      );
    });
  }

  async version(options?: CallOptions): Promise<CriVersion> {
    const r = await this.call<CriVersion>(this.runtime, "Version", { version: "v1" }, options);
    return {
      version: r.version,
      runtimeName: r.runtimeName,
      runtimeVersion: r.runtimeVersion,
      runtimeApiVersion: r.runtimeApiVersion,
    };
  }

  async listPodSandbox(filter?: PodSandboxFilter, options?: CallOptions): Promise<PodSandbox[]> {
    const f = filter ? { id: filter.id ?? "", state: filter.state ? { state: filter.state } : null, labelSelector: filter.labelSelector ?? {} } : null;
    const r = await this.call<{ items: RawPodSandbox[] }>(this.runtime, "ListPodSandbox", { filter: f }, options);
    return (r.items ?? []).map(toPodSandbox);
  }

  async listContainers(filter?: ContainerFilter, options?: CallOptions): Promise<CriContainer[]> {
    const f = filter
      ? {
          id: filter.id ?? "",
          state: filter.state ? { state: filter.state } : null,
          podSandboxId: filter.podSandboxId ?? "",
          labelSelector: filter.labelSelector ?? {},
        }
      : null;
    const r = await this.call<{ containers: RawContainer[] }>(this.runtime, "ListContainers", { filter: f }, options);
    return (r.containers ?? []).map((c) => ({
      id: c.id,
      podSandboxId: c.podSandboxId,
      name: c.metadata?.name ?? "",
      attempt: c.metadata?.attempt ?? 0,
      image: c.image?.image ?? "",
      imageRef: c.imageRef,
      state: c.state,
      createdAt: big(c.createdAt),
      labels: c.labels ?? {},
      annotations: c.annotations ?? {},
    }));
  }

  /**
   * ContainerStatus. With verbose=true (the default) the runtime adds info["info"], a JSON string
   * from which pid, sandboxId and cgroupsPath are parsed.
   */
  async containerStatus(containerId: string, verbose = true, options?: CallOptions): Promise<CriContainerStatus> {
    const r = await this.call<{ status: RawContainerStatus | null; info: Record<string, string> }>(
      this.runtime,
      "ContainerStatus",
      { containerId, verbose },
      options,
    );
    const s = r.status;
    if (!s) throw new CriError(this.socketPath, "ContainerStatus", `no status for container ${containerId}`);
    const info = r.info ?? {};
    const parsed = parseContainerInfo(info);
    return {
      id: s.id,
      name: s.metadata?.name ?? "",
      attempt: s.metadata?.attempt ?? 0,
      state: s.state,
      createdAt: big(s.createdAt),
      startedAt: big(s.startedAt),
      finishedAt: big(s.finishedAt),
      exitCode: s.exitCode,
      image: s.image?.image ?? "",
      imageRef: s.imageRef,
      imageId: s.imageId,
      reason: s.reason,
      message: s.message,
      labels: s.labels ?? {},
      annotations: s.annotations ?? {},
      mounts: s.mounts ?? [],
      logPath: s.logPath,
      info,
      ...parsed,
    };
  }
}

export interface DetectedCriSocket {
  socketPath: string;
  version: CriVersion;
}

/**
 * Returns the first socket among `candidates` (default DEFAULT_CRI_SOCKETS) whose runtime answers
 * Version. Rejects with an Error naming every socket tried and why each failed.
 */
export async function detectCriSocket(candidates: readonly string[] = DEFAULT_CRI_SOCKETS, options: { timeoutMs?: number } = {}): Promise<DetectedCriSocket> {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const failures: string[] = [];
  for (const socketPath of candidates) {
    if (!existsSync(socketPath)) {
      failures.push(`${socketPath}: does not exist`);
      continue;
    }
    let client: CriClient | undefined;
    try {
      client = await CriClient.connect(socketPath, { timeoutMs });
      const version = await client.version();
      return { socketPath, version };
    } catch (err) {
      const e = err as CriError;
      failures.push(`${socketPath}: ${e.details ?? e.message}`);
    } finally {
      client?.close();
    }
  }
  throw new Error(`no CRI runtime answered Version on any of ${candidates.length} socket(s):\n  ${failures.join("\n  ")}`);
}
