import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { ListFilesResponseSchema, type FileEntry, type ListFilesRequest, type ListFilesResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { invalidArgument } from "../errors.js";
import { entryToProto, requirePath } from "./convert.js";
import { containerName } from "../resolve/resolver.js";
import type { HandlerDeps } from "./deps.js";

const DEFAULT_PAGE = 1000;
const MAX_PAGE = 10_000;
/** A partial batch is sent after this long, so a slow directory still shows progress. */
const FLUSH_AFTER_MS = 100;

export function listFiles(deps: HandlerDeps) {
  return async function* (req: ListFilesRequest, ctx: HandlerContext): AsyncGenerator<ListFilesResponse> {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    if (req.pageSize > MAX_PAGE) throw invalidArgument(`page_size ${req.pageSize} exceeds ${MAX_PAGE}`);
    const pageSize = req.pageSize || DEFAULT_PAGE;
    const info = deps.call.noteTarget(ctx, name, path);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    let batch: FileEntry[] = [];
    let batchStarted = Date.now();
    for await (const entry of fs.list(path, {
      includeHidden: req.includeHidden,
      recursive: req.recursive,
      maxDepth: req.maxDepth,
      signal: ctx.signal,
    })) {
      if (batch.length === 0) batchStarted = Date.now();
      batch.push(entryToProto(entry));
      if (batch.length >= pageSize || Date.now() - batchStarted >= FLUSH_AFTER_MS) {
        info.bytes += BigInt(batch.length);
        yield create(ListFilesResponseSchema, { entries: batch });
        batch = [];
      }
    }
    if (batch.length > 0) {
      info.bytes += BigInt(batch.length);
      yield create(ListFilesResponseSchema, { entries: batch });
    }
  };
}
