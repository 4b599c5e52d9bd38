// The containers the caller may read (ListContainers): every namespace, or one; streamed as the
// server pages through its pods. Local mode lists its one container.
import type { Client } from "@connectrpc/connect";
import type { ContainerInfo, FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { PodfilesError } from "./errors.js";

export interface ListContainersOptions {
  signal?: AbortSignal;
  /** milliseconds for the whole call */
  timeoutMs?: number;
  /** only this namespace (default: every namespace the server lists) */
  namespace?: string;
}

export async function* listContainers(rpc: Client<typeof FileService>, o: ListContainersOptions = {}): AsyncGenerator<ContainerInfo> {
  try {
    for await (const page of rpc.listContainers({ namespace: o.namespace ?? "" }, o)) yield* page.containers;
  } catch (err) {
    throw PodfilesError.from(err);
  }
}
