import { posix } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { UploadResponseSchema, type UploadHeader, type UploadRequest, type UploadResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { invalidArgument, cancelled, toConnectError } from "../errors.js";
import type { ContainerFs, ExtractOptions, ExtractResult } from "../fs/container-fs.js";
import { tempNameFor } from "../fs/root/temp-names.js";
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
    const info = deps.call.noteTarget(ctx, containerName(header.container), requirePath(header.path));
    return storeUpload(deps, header, (check) => dataChunks(iterator, check, info, deps.call, ctx), ctx.signal);
  };
}

/**
 * Writes what an Upload header describes from `data` (each chunk passed through the check it is
 * handed): a file atomically (temp name + rename), or a tar stream. Upload and Copy (a destination
 * this agent serves) share it.
 */
export async function storeUpload(
  deps: Pick<HandlerDeps, "resolver" | "uploads">,
  header: UploadHeader,
  data: (check: UploadCheck) => AsyncIterable<Uint8Array>,
  signal: AbortSignal,
): Promise<UploadResponse> {
  const name = containerName(header.container);
  const path = requirePath(header.path);
  const plan = uploadPlan(header.options, deps.uploads);
  const fs = await deps.resolver.resolve(name, signal);
  const check = new UploadCheck(plan, path);

  if (plan.tar) {
    const result = await extractTree(fs, path, data(check), plan.write);
    return create(UploadResponseSchema, {
      entry: entryToProto(result.entry),
      bytesReceived: check.received,
      ...digestFields(check, check.finish()),
      entriesExtracted: result.entries,
    });
  }

  const writer = await fs.createWriter(path, { ...plan.write, holder: "a streaming Upload" });
  try {
    for await (const chunk of data(check)) await writer.write(chunk);
    const digest = check.finish();
    const entry = await writer.commit();
    return create(UploadResponseSchema, { entry: entryToProto(entry), bytesReceived: check.received, ...digestFields(check, digest) });
  } catch (err) {
    // A cancelled stream, a bad message, a size or digest mismatch: nothing stays behind.
    await writer.abort();
    throw err;
  }
}

/**
 * A tar stream into `path`. Into a directory that already exists: extracted in place, as always.
 * With make_parents into one that does not exist yet: extracted into a hidden temp directory
 * beside it (the upload temp naming, `.NAME.podfiles-HEX.part`) and renamed into place at the end,
 * so a failed or cancelled tree (a Copy whose caller hung up) leaves nothing at `path`.
 */
async function extractTree(fs: ContainerFs, path: string, tar: AsyncIterable<Uint8Array>, options: ExtractOptions): Promise<ExtractResult> {
  if (!options.makeParents || (await exists(fs, path))) return fs.extractTar(path, tar, options);
  const temp = posix.join(posix.dirname(path), tempNameFor(posix.basename(path)));
  await fs.mkdir(posix.dirname(path), { parents: true });
  await fs.mkdir(temp, { parents: false, mode: 0o755 });
  try {
    const result = await fs.extractTar(temp, tar, { ...options, makeParents: false });
    const entry = await fs.rename(temp, path, { overwrite: false });
    return { entry, entries: result.entries };
  } catch (err) {
    await fs.remove(temp, { recursive: true }).catch(() => undefined);
    throw err;
  }
}

async function exists(fs: ContainerFs, path: string): Promise<boolean> {
  try {
    await fs.stat(path, { followSymlinks: false });
    return true;
  } catch (err) {
    if (toConnectError(err).code === Code.NotFound) return false;
    throw err;
  }
}

/**
 * The data messages after the header, and the optional trailer. The end of the
 * request stream counts as complete only if the client did not drop or reset it.
 * A client that half-closes (END_STREAM) has, by HTTP/2 and gRPC rules, sent
 * everything, even if it cancels a moment later (Node's Http2Stream.close() does
 * exactly that): clients that must never commit a truncated file send
 * expected_size, in the header or the trailer. The checks run before this
 * generator ends: a tar extraction then fails (its temp directory removed)
 * instead of completing.
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
      check.finish();
      return;
    }
    const part = next.value.part;
    if (part.case === "trailer") {
      check.trailer(part.value);
      continue;
    }
    if (part.case !== "data") throw invalidArgument("only data messages and a trailer may follow the Upload header");
    if (part.value.length === 0) {
      if (check.trailerSeen) throw invalidArgument("a data message after the Upload trailer; the trailer comes last");
      continue;
    }
    check.add(part.value);
    info.bytes += BigInt(part.value.length);
    yield part.value;
  }
}
