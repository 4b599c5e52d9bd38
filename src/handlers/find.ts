// Find: matches streamed in batches as the confined walk meets them.
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { DigestAlgorithm, FileType, FindMatchSchema, FindResponseSchema, type FindRequest, type FindResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { DigestKind, FindOptions } from "../fs/container-fs.js";
import { invalidArgument } from "../errors.js";
import { containerName } from "../resolve/resolver.js";
import { inBatches } from "./batches.js";
import { entryToProto, entryTypeOf, requirePath } from "./convert.js";
import type { HandlerDeps } from "./deps.js";

const BATCH = 1000;
/** Matches with a digest: each costs a file read, so fewer per message. */
const DIGEST_BATCH = 100;
/** A partial batch is sent after this long, so rare matches in a large tree still show as found. */
const FLUSH_AFTER_MS = 100;

const digestKinds: Record<DigestAlgorithm, DigestKind | undefined> = {
  [DigestAlgorithm.UNSPECIFIED]: undefined,
  [DigestAlgorithm.NONE]: undefined,
  [DigestAlgorithm.SHA256]: "sha256",
  [DigestAlgorithm.CRC32]: "crc32",
};

/** The request as FindOptions; INVALID_ARGUMENT for what cannot be one. */
export function findOptions(req: FindRequest, signal?: AbortSignal): FindOptions {
  const types = req.types.map((t) => {
    const type = entryTypeOf(t);
    if (!type) throw invalidArgument(`types: ${FileType[t] ?? t} is not a file type to find`);
    return type;
  });
  if (!(req.digestAlgorithm in digestKinds)) throw invalidArgument(`unknown digest_algorithm ${req.digestAlgorithm}`);
  return {
    nameGlob: req.nameGlob || undefined,
    pathRegex: req.pathRegex || undefined,
    types,
    minSize: req.minSize,
    maxSize: req.maxSize,
    modifiedAfterMs: req.modifiedAfter ? timestampMs(req.modifiedAfter) : undefined,
    modifiedBeforeMs: req.modifiedBefore ? timestampMs(req.modifiedBefore) : undefined,
    maxDepth: req.maxDepth,
    limit: req.limit,
    digest: digestKinds[req.digestAlgorithm],
    signal,
  };
}

export function find(deps: HandlerDeps) {
  return async function* (req: FindRequest, ctx: HandlerContext): AsyncGenerator<FindResponse> {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    const options = findOptions(req, ctx.signal);
    const info = deps.call.noteTarget(ctx, name, path);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    for await (const batch of inBatches(fs.find(path, options), options.digest ? DIGEST_BATCH : BATCH, FLUSH_AFTER_MS)) {
      info.bytes += BigInt(batch.length);
      yield create(FindResponseSchema, { matches: batch.map((m) => create(FindMatchSchema, { entry: entryToProto(m.entry), digest: m.digest })) });
    }
  };
}
