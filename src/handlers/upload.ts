import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { UploadResponseSchema, type UploadRequest, type UploadResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { invalidArgument, cancelled } from "../errors.js";
import { entryToProto, requirePath, uploadPlan } from "./convert.js";
import { containerName } from "../resolve/resolver.js";
import type { CallFacts, HandlerDeps } from "./deps.js";
import { digestFields } from "./digest.js";
import { UploadCheck } from "./upload-check.js";

export function upload(deps: HandlerDeps) {
  return async (requests: AsyncIterable<UploadRequest>, ctx: HandlerContext): Promise<UploadResponse> => {
    const iterator = requests[Symbol.asyncIterator]();
    const first = await iterator.next();
    if (first.done || first.value.part.case !== "header") throw invalidArgument("the first Upload message must be a header");
    const header = first.value.part.value;
    const name = containerName(header.container);
    const path = requirePath(header.path);
    const plan = uploadPlan(header.options, deps.uploads);
    const info = deps.call.noteTarget(ctx, name, path);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    const check = new UploadCheck(plan, path);
    const data = dataChunks(iterator, check, info, deps.call, ctx);

    if (plan.tar) {
      const result = await fs.extractTar(path, data, plan.write);
      return create(UploadResponseSchema, {
        entry: entryToProto(result.entry),
        bytesReceived: check.received,
        ...digestFields(check, check.finish()),
        entriesExtracted: result.entries,
      });
    }

    const writer = await fs.createWriter(path, { ...plan.write, holder: "a streaming Upload" });
    try {
      for await (const chunk of data) await writer.write(chunk);
      const digest = check.finish();
      const entry = await writer.commit();
      return create(UploadResponseSchema, { entry: entryToProto(entry), bytesReceived: check.received, ...digestFields(check, digest) });
    } catch (err) {
      // A cancelled stream, a bad message, a size or digest mismatch: nothing stays behind.
      await writer.abort();
      throw err;
    }
  };
}

/**
 * The data messages after the header. The end of the request stream counts as
 * complete only if the client did not drop or reset it. A client that
 * half-closes (END_STREAM) has, by HTTP/2 and gRPC rules, sent everything,
 * even if it cancels a moment later (Node's Http2Stream.close() does exactly
 * that): clients that must never commit a truncated file send expected_size.
 */
async function* dataChunks(
  iterator: AsyncIterator<UploadRequest>,
  check: UploadCheck,
  info: { bytes: bigint },
  call: CallFacts,
  ctx: HandlerContext,
): AsyncGenerator<Uint8Array> {
  for (;;) {
    const next = await iterator.next();
    if (next.done) {
      if (call.requestBodyAborted(ctx)) throw cancelled("upload cancelled by the client; nothing was written");
      return;
    }
    const part = next.value.part;
    if (part.case !== "data") throw invalidArgument("only data messages may follow the Upload header");
    if (part.value.length === 0) continue;
    check.add(part.value);
    info.bytes += BigInt(part.value.length);
    yield part.value;
  }
}
