// The browser-friendly upload: unary calls over one UploadSession.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  AbortUploadResponseSchema,
  BeginUploadResponseSchema,
  CommitUploadResponseSchema,
  QueryUploadResponseSchema,
  WriteUploadChunkResponseSchema,
  type AbortUploadRequest,
  type BeginUploadRequest,
  type CommitUploadRequest,
  type ContainerRef,
  type QueryUploadRequest,
  type WriteUploadChunkRequest,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import { invalidArgument } from "../errors.js";
import { formatName } from "../resolve/resolver.js";
import { entryToProto, requirePath, uploadPlan } from "./convert.js";
import { containerName } from "../resolve/resolver.js";
import type { HandlerDeps } from "./deps.js";
import { digestFields } from "./digest.js";
import { UploadCheck } from "./upload-check.js";
import { offsetMismatch, requireUploadId, type UploadSession } from "./upload-sessions.js";

export function beginUpload(deps: HandlerDeps) {
  return async (req: BeginUploadRequest, ctx: HandlerContext) => {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    const plan = uploadPlan(req.options, deps.uploads);
    if (plan.tar) throw invalidArgument("chunked uploads write one file; use Upload for tar streams");
    deps.call.noteTarget(ctx, name, path);
    const caller = deps.call.caller(ctx);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    const session = await deps.uploads.begin(caller.capKey, async (id) => ({
      container: formatName(name),
      path,
      owner: caller.owner,
      writer: await fs.createWriter(path, { ...plan.write, holder: `upload ${id.slice(0, 8)}` }),
      check: new UploadCheck(plan, path),
      startOffset: plan.write.offset,
    }));
    return create(BeginUploadResponseSchema, {
      uploadId: session.id,
      committedSize: committed(session),
      expiresAfterSeconds: Math.round(deps.uploads.idleTimeoutMs / 1000),
      commitChecksTrailer: true,
    });
  };
}

const committed = (s: UploadSession) => s.startOffset + s.writer.written;

/** Runs fn on the request's session after the identity/container/path checks. */
function withSession<T>(
  deps: HandlerDeps,
  req: { container?: ContainerRef; path: string; uploadId: string },
  ctx: HandlerContext,
  fn: (s: UploadSession) => Promise<T>,
): Promise<T> {
  const name = containerName(req.container);
  const path = requirePath(req.path);
  const id = requireUploadId(req.uploadId);
  deps.call.noteTarget(ctx, name, path);
  return deps.uploads.use(id, name, path, deps.call.caller(ctx).owner, fn);
}

export function writeUploadChunk(deps: HandlerDeps) {
  return (req: WriteUploadChunkRequest, ctx: HandlerContext) =>
    withSession(deps, req, ctx, async (session) => {
      const size = committed(session);
      const end = req.offset + BigInt(req.data.length);
      if (req.offset !== size) {
        // A retried chunk that is already in is fine; anything else is a gap or an overlap.
        if (end <= size && req.offset >= session.startOffset) return create(WriteUploadChunkResponseSchema, { committedSize: size });
        throw offsetMismatch(req.offset, size);
      }
      session.check.add(req.data);
      await session.writer.write(req.data);
      await session.writer.flush(); // the committed size reported is in the file
      return create(WriteUploadChunkResponseSchema, { committedSize: committed(session) });
    });
}

export function queryUpload(deps: HandlerDeps) {
  return (req: QueryUploadRequest, ctx: HandlerContext) =>
    withSession(deps, req, ctx, async (session) =>
      create(QueryUploadResponseSchema, { committedSize: committed(session), complete: false, commitChecksTrailer: true }),
    );
}

export function commitUpload(deps: HandlerDeps) {
  return (req: CommitUploadRequest, ctx: HandlerContext) =>
    withSession(deps, req, ctx, async (session) => {
      deps.uploads.delete(session.id);
      try {
        // expectations known only at the end (the client hashed while it sent), checked as an Upload's trailer
        if (req.trailer) session.check.trailer(req.trailer);
        const digest = session.check.finish();
        const entry = await session.writer.commit();
        return create(CommitUploadResponseSchema, {
          entry: entryToProto(entry),
          bytesReceived: session.check.received,
          ...digestFields(session.check, digest),
        });
      } catch (err) {
        await session.writer.abort();
        throw err;
      }
    });
}

export function abortUpload(deps: HandlerDeps) {
  return (req: AbortUploadRequest, ctx: HandlerContext) =>
    withSession(deps, req, ctx, async (session) => {
      deps.uploads.delete(session.id);
      await session.writer.abort();
      return create(AbortUploadResponseSchema, {});
    });
}
