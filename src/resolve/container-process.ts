// Where a container's processes are: container ID → the host PID of its first process and the
// user new files default to. Two sources: the CRI (ContainerStatus verbose) and a cgroup scan.
import type { Owner } from "../fs/root/context.js";

export interface ContainerProcess {
  pid: number;
  /** Owner of new files when the caller names none: the container's user. */
  owner: Owner;
}

export interface PidSource {
  /** For logs and errors: "cri unix:/run/containerd/containerd.sock", "cgroup scan of /proc". */
  readonly description: string;
  /** Throws FileServiceError: NOT_FOUND (unknown ID), FAILED_PRECONDITION (not running), UNAVAILABLE (runtime unreachable). */
  locate(containerId: string): Promise<ContainerProcess>;
  close(): void;
}

/** runtimeSpec.process.user {uid, gid} from ContainerStatus verbose info, else root. */
export function ownerFromRuntimeInfo(runtimeInfo: Record<string, unknown> | undefined): Owner {
  const spec = runtimeInfo?.["runtimeSpec"] as { process?: { user?: { uid?: unknown; gid?: unknown } } } | undefined;
  const user = spec?.process?.user;
  const uid = typeof user?.uid === "number" && Number.isInteger(user.uid) && user.uid >= 0 ? user.uid : 0;
  const gid = typeof user?.gid === "number" && Number.isInteger(user.gid) && user.gid >= 0 ? user.gid : 0;
  return { uid, gid };
}
