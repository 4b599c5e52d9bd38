import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  MakeDirectoryResponseSchema,
  RemoveResponseSchema,
  RenameResponseSchema,
  type MakeDirectoryRequest,
  type RemoveRequest,
  type RenameRequest,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import { invalidArgument } from "../errors.js";
import { entryToProto, requirePath } from "./convert.js";
import { containerName } from "../resolve/resolver.js";
import type { HandlerDeps } from "./deps.js";

export function makeDirectory(deps: HandlerDeps) {
  return async (req: MakeDirectoryRequest, ctx: HandlerContext) => {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    if (req.mode !== undefined && req.mode > 0o7777) throw invalidArgument(`mode ${req.mode.toString(8)} has bits beyond 07777`);
    deps.call.noteTarget(ctx, name, path);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    const entry = await fs.mkdir(path, { parents: req.parents, mode: req.mode });
    return create(MakeDirectoryResponseSchema, { entry: entryToProto(entry) });
  };
}

export function remove(deps: HandlerDeps) {
  return async (req: RemoveRequest, ctx: HandlerContext) => {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    deps.call.noteTarget(ctx, name, path);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    await fs.remove(path, { recursive: req.recursive });
    return create(RemoveResponseSchema, {});
  };
}

export function rename(deps: HandlerDeps) {
  return async (req: RenameRequest, ctx: HandlerContext) => {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    const newPath = requirePath(req.newPath, "new_path");
    deps.call.noteTarget(ctx, name, path);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    const entry = await fs.rename(path, newPath, { overwrite: req.overwrite });
    return create(RenameResponseSchema, { entry: entryToProto(entry) });
  };
}
