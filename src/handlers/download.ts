import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  DownloadHeaderSchema,
  DownloadResponseSchema,
  DownloadTrailerSchema,
  type DownloadRequest,
  type DownloadResponse,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import { entryToProto, formatToProto, readFormat, requirePath } from "./convert.js";
import { containerName } from "../resolve/resolver.js";
import type { HandlerDeps } from "./deps.js";
import { createDigest, digestAlgorithm, digestFields } from "./digest.js";

const MIN_CHUNK = 16 * 1024;

export function download(deps: HandlerDeps) {
  return async function* (req: DownloadRequest, ctx: HandlerContext): AsyncGenerator<DownloadResponse> {
    const name = containerName(req.container);
    const path = requirePath(req.path);
    const info = deps.call.noteTarget(ctx, name, path);
    const algorithm = digestAlgorithm(req.digestAlgorithm);
    const chunkSize = req.chunkSize === 0 ? deps.defaultChunkSize : Math.min(Math.max(req.chunkSize, MIN_CHUNK), deps.maxChunkSize);
    const fs = await deps.resolver.resolve(name, ctx.signal);
    const stream = await fs.read(path, {
      offset: req.offset,
      length: req.length,
      chunkSize,
      format: readFormat(req.format),
      signal: ctx.signal,
    });
    // connect-node may leave a cancelled stream's generator suspended at a
    // yield; closing on abort frees the file handle regardless.
    const closeOnAbort = () => void stream.close();
    ctx.signal.addEventListener("abort", closeOnAbort, { once: true });
    try {
      yield create(DownloadResponseSchema, {
        part: {
          case: "header",
          value: create(DownloadHeaderSchema, {
            entry: entryToProto(stream.entry),
            format: formatToProto(stream.format),
            offset: stream.offset,
            length: stream.length,
            digestAlgorithm: algorithm,
          }),
        },
      });
      const hash = createDigest(algorithm);
      for await (const chunk of stream.chunks) {
        hash.update(chunk);
        info.bytes += BigInt(chunk.length);
        yield create(DownloadResponseSchema, { part: { case: "data", value: chunk } });
      }
      yield create(DownloadResponseSchema, {
        part: {
          case: "trailer",
          value: create(DownloadTrailerSchema, { ...digestFields(hash, hash.digest()), bytesSent: info.bytes }),
        },
      });
    } finally {
      // Runs on completion, error and client cancellation alike: the file handle never leaks.
      ctx.signal.removeEventListener("abort", closeOnAbort);
      await stream.close();
    }
  };
}
