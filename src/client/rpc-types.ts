// The generated client and the per-call options as the find/diskUsage/tail calls take them,
// apart from core.ts (which imports those calls: importing core.ts back would be a cycle).
// CallOptions is the same shape as core.ts's, so one options object serves both.
import type { Client } from "@connectrpc/connect";
import type { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";

export type FileServiceRpc = Client<typeof FileService>;

export interface CallOptions {
  signal?: AbortSignal;
  /** milliseconds for the whole call */
  timeoutMs?: number;
}
