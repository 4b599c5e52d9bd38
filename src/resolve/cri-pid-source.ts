// PidSource over the CRI: ContainerStatus(verbose) → info.pid and runtimeSpec.process.user.
import * as grpc from "@grpc/grpc-js";
import { failedPrecondition, notFound, unavailable } from "../errors.js";
import { CriClient, CriError } from "../cri/client.js";
import { ownerFromRuntimeInfo, type ContainerProcess, type PidSource } from "./container-process.js";

/** Maps a CriError to the status a caller should see (the socket is always named); other errors pass through. */
export function criFailure(err: unknown, socketPath: string, what: string): unknown {
  if (!(err instanceof CriError)) return err;
  if (err.code === grpc.status.NOT_FOUND) {
    return notFound(`${what} not found by the container runtime at unix:${socketPath}`);
  }
  return unavailable(`container runtime socket unix:${socketPath} unreachable: ${err.message}`, err);
}

const stateName = (s: string) => s.replace(/^CONTAINER_/, "").toLowerCase();

export class CriPidSource implements PidSource {
  readonly description: string;
  private client?: Promise<CriClient>;

  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 5_000,
  ) {
    this.description = `cri unix:${socketPath}`;
  }

  /** The connected client (connects on first use, reconnects after a failed connect). */
  connect(): Promise<CriClient> {
    if (!this.client) {
      const p = CriClient.connect(this.socketPath, { timeoutMs: this.timeoutMs });
      this.client = p;
      p.catch(() => {
        if (this.client === p) this.client = undefined;
      });
    }
    return this.client;
  }

  async locate(containerId: string): Promise<ContainerProcess> {
    let status;
    try {
      const client = await this.connect();
      status = await client.containerStatus(containerId, true);
    } catch (err) {
      throw criFailure(err, this.socketPath, `container ${containerId}`);
    }
    if (status.state !== "CONTAINER_RUNNING") {
      const why = [status.reason && `reason ${status.reason}`, status.state === "CONTAINER_EXITED" && `exit code ${status.exitCode}`]
        .filter(Boolean)
        .join(", ");
      throw failedPrecondition(`container ${status.name || containerId} is not running (state ${stateName(status.state)}${why ? `, ${why}` : ""})`);
    }
    if (!status.pid) {
      throw unavailable(`container runtime at unix:${this.socketPath} reported no PID for container ${containerId} (no verbose info)`);
    }
    return { pid: status.pid, owner: ownerFromRuntimeInfo(status.runtimeInfo) };
  }

  close(): void {
    const c = this.client;
    this.client = undefined;
    c?.then((x) => x.close()).catch(() => undefined);
  }
}
