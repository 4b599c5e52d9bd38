import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { StatResponseSchema, type StatRequest, type StatResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { entryToProto, requirePath } from "./convert.js";
import { containerName } from "../resolve/resolver.js";
import type { HandlerDeps } from "./deps.js";

export function stat(deps: HandlerDeps) {
  return async (req: StatRequest, ctx: HandlerContext): Promise<StatResponse> => {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    deps.call.noteTarget(ctx, name, path);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    const entry = await fs.stat(path, { followSymlinks: req.followSymlinks });
    return create(StatResponseSchema, { entry: entryToProto(entry) });
  };
}
