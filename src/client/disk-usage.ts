// client.diskUsage(): per-directory totals as an async iterable, children before their parent,
// the directory asked for last.
import type { DiskUsageEntry } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { CallOptions, FileServiceRpc } from "./rpc-types.js";
import { PodfilesError } from "./errors.js";
import type { ResolvedTarget } from "./target.js";

export interface DiskUsageOptions extends CallOptions {
  /** report directories down to this many levels below (totals still count everything; 0: all) */
  maxDepth?: number;
  /** sum file sizes instead of allocated blocks (du --apparent-size) */
  apparentSize?: boolean;
}

export async function* diskUsage(rpc: FileServiceRpc, target: ResolvedTarget, o: DiskUsageOptions = {}): AsyncGenerator<DiskUsageEntry> {
  try {
    for await (const res of rpc.diskUsage({ ...target, maxDepth: o.maxDepth ?? 0, apparentSize: !!o.apparentSize }, o)) yield* res.entries;
  } catch (err) {
    throw PodfilesError.from(err);
  }
}
