// Tail: the file's bytes as they are read, then (follow) as they are appended, until the caller
// cancels. A slow caller slows the reads (one chunk in flight), it never queues the file.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { TailNotice, TailResponseSchema, type TailRequest, type TailResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { containerName } from "../resolve/resolver.js";
import { requirePath } from "./convert.js";
import type { HandlerDeps } from "./deps.js";

const notices = { rotated: TailNotice.ROTATED, truncated: TailNotice.TRUNCATED };

export function tail(deps: HandlerDeps) {
  return async function* (req: TailRequest, ctx: HandlerContext): AsyncGenerator<TailResponse> {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    const info = deps.call.noteTarget(ctx, name, path);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    const chunks = fs.tail(path, { offset: req.offset, lines: req.lines, follow: req.follow, signal: ctx.signal });
    for await (const c of chunks) {
      info.bytes += BigInt(c.data.length);
      yield create(TailResponseSchema, { data: c.data, offset: c.offset, notice: c.notice ? notices[c.notice] : TailNotice.UNSPECIFIED });
    }
  };
}
