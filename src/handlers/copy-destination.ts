// Where a Copy writes: a container this agent serves (its ContainerFs, through the Upload
// handler's own storeUpload), or one another agent serves (an Upload client stream to that agent,
// carrying the caller, so that agent authorizes the write itself). Both answer the same two
// questions: what is at a path now, and write this stream there.
import { Code, type HandlerContext } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { UploadRequestSchema, type ContainerRef, type FileEntry, type UploadHeader, type UploadResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { toConnectError } from "../errors.js";
import type { ContainerFs } from "../fs/container-fs.js";
import type { ContainerName } from "../resolve/resolver.js";
import { entryToProto } from "./convert.js";
import type { HandlerDeps } from "./deps.js";
import { storeUpload } from "./upload.js";

export interface CopyDestination {
  /** "here" (this agent's ContainerFs) or the peer agent's node. */
  readonly where: "here" | "peer";
  /** The entry at `path` (symlinks not followed), or undefined when there is none. */
  stat(path: string, signal: AbortSignal): Promise<FileEntry | undefined>;
  /** Writes `data` as the header says; resolves to the destination's answer (its digest). */
  write(header: UploadHeader, data: AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<UploadResponse>;
  /** The ContainerFs, when served here (to tell the source's container from the destination's). */
  readonly fs?: ContainerFs;
}

const isNotFound = (err: unknown) => toConnectError(err).code === Code.NotFound;

export async function copyDestination(deps: HandlerDeps, ref: ContainerRef, name: ContainerName, ctx: HandlerContext): Promise<CopyDestination> {
  const peer = await deps.copyPeers?.clientFor(name, ctx);
  if (peer) {
    return {
      where: "peer",
      async stat(path, signal) {
        try {
          return (await peer.stat({ container: ref, path, followSymlinks: false }, { signal })).entry;
        } catch (err) {
          if (isNotFound(err)) return undefined;
          throw err;
        }
      },
      async write(header, data, signal) {
        async function* requests() {
          yield create(UploadRequestSchema, { part: { case: "header", value: header } });
          for await (const chunk of data) yield create(UploadRequestSchema, { part: { case: "data", value: chunk } });
        }
        return peer.upload(requests(), { signal });
      },
    };
  }
  const fs = await deps.resolver.resolve(name, ctx.signal);
  return {
    where: "here",
    fs,
    async stat(path) {
      try {
        return entryToProto(await fs.stat(path, { followSymlinks: false }));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    write(header, data, signal) {
      return storeUpload(
        deps,
        header,
        (check) =>
          (async function* () {
            for await (const chunk of data) {
              check.add(chunk);
              yield chunk;
            }
          })(),
        signal,
      );
    },
  };
}
