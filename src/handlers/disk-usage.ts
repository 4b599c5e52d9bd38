// DiskUsage: per-directory totals streamed in batches, children before their parent.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { DiskUsageEntrySchema, DiskUsageResponseSchema, type DiskUsageRequest, type DiskUsageResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { containerName } from "../resolve/resolver.js";
import { inBatches } from "./batches.js";
import { requirePath } from "./convert.js";
import type { HandlerDeps } from "./deps.js";

const BATCH = 1000;
const FLUSH_AFTER_MS = 100;

export function diskUsage(deps: HandlerDeps) {
  return async function* (req: DiskUsageRequest, ctx: HandlerContext): AsyncGenerator<DiskUsageResponse> {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    const info = deps.call.noteTarget(ctx, name, path);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    const totals = fs.diskUsage(path, { maxDepth: req.maxDepth, apparentSize: req.apparentSize, signal: ctx.signal });
    for await (const batch of inBatches(totals, BATCH, FLUSH_AFTER_MS)) {
      info.bytes += BigInt(batch.length);
      yield create(DiskUsageResponseSchema, { entries: batch.map((e) => create(DiskUsageEntrySchema, e)) });
    }
  };
}
