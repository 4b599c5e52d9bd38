// Copy: a file or a tree from one container to another, served by the source's agent (the call is
// routed by its field 1, the source). The source is read through its ContainerFs as Download
// reads it (a file raw, a directory as a tar stream) and written as an Upload writes it: through
// this agent's ContainerFs when it serves the destination too, else as an Upload stream to the
// destination's agent, which authorizes the caller itself (copy-destination.ts). A file appears
// atomically (temp name + rename); a new tree is extracted beside its place and renamed into it
// (upload.ts), so a failed or cancelled copy leaves nothing at the destination.
import { createHash } from "node:crypto";
import { posix } from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import {
  ArchiveFormat,
  CopyProgressSchema,
  CopyResponseSchema,
  CopyResultSchema,
  DigestAlgorithm,
  FileType,
  OverwritePolicy,
  UploadHeaderSchema,
  UploadOptionsSchema,
  type CopyRequest,
  type CopyResponse,
  type UploadResponse,
} from "../../gen/ts/podfiles/v1/files_pb.js";
import { cancelled, dataLoss, failedPrecondition, invalidArgument, notFound, permissionDenied, toConnectError, targetExists } from "../errors.js";
import { containerName, formatName } from "../resolve/resolver.js";
import { requirePath, uploadPlan } from "./convert.js";
import { copyDestination } from "./copy-destination.js";
import type { HandlerDeps } from "./deps.js";

/** Progress is sent about this often while bytes move (the proto promises about once a second). */
const PROGRESS_EVERY_MS = 1000;
const CHUNK = 1024 * 1024;

export function copy(deps: HandlerDeps, progressEveryMs = PROGRESS_EVERY_MS) {
  return async function* (req: CopyRequest, ctx: HandlerContext): AsyncGenerator<CopyResponse> {
    const source = containerName(req.container);
    const path = requirePath(req.path);
    if (!req.destination) throw invalidArgument("destination is required: the container to copy to");
    const destination = containerName(req.destination);
    const destinationPath = requirePath(req.destinationPath, "destination_path");
    const options = req.options ?? create(UploadOptionsSchema);
    if (options.overwrite === OverwritePolicy.APPEND) throw invalidArgument("a copy cannot append: use OVERWRITE_POLICY_FAIL or OVERWRITE_POLICY_OVERWRITE");
    uploadPlan(options, deps.uploads); // mode and the rest refused as an Upload refuses them, before anything is read
    const info = deps.call.noteTarget(ctx, source, path);

    // the caller hanging up stops both sides; so does this generator being closed early
    const stop = new AbortController();
    const onAbort = () => stop.abort(ctx.signal.reason);
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    try {
      const fs = await deps.resolver.resolve(source, stop.signal);
      const to = await copyDestination(deps, req.destination, destination, ctx);
      const sameContainer = to.fs === fs || (to.where === "here" && formatName(source) === formatName(destination));
      const from = posix.normalize(posix.join("/", path));
      const onto = posix.normalize(posix.join("/", destinationPath));
      if (sameContainer && from === onto) throw invalidArgument(`${path}: source and destination are the same file`);

      const stream = await fs.read(path, { offset: 0n, length: 0n, chunkSize: CHUNK, format: "auto", signal: stop.signal });
      const closeOnAbort = () => void stream.close();
      stop.signal.addEventListener("abort", closeOnAbort, { once: true });
      try {
        const tree = stream.format === "tar";
        if (tree && options.modifiedTime) throw invalidArgument(`${path}: modified_time applies to a file copy, and this is a directory`);
        if (tree && sameContainer && (onto + "/").startsWith(from === "/" ? "/" : `${from}/`))
          throw invalidArgument(`${destinationPath}: a directory cannot be copied into itself (${path})`);
        await checkDestination(to, destinationPath, tree, options.overwrite, options.makeParents, stop.signal);

        const header = create(UploadHeaderSchema, {
          container: req.destination,
          path: destinationPath,
          options: {
            mode: options.mode,
            uid: options.uid,
            gid: options.gid,
            overwrite: options.overwrite,
            // a new tree is made beside its place and renamed into it (its parent was checked above)
            makeParents: tree ? true : options.makeParents,
            format: tree ? ArchiveFormat.TAR : ArchiveFormat.RAW,
            // a file cut short (the source shrank, the stream broke) is never committed
            ...(tree ? {} : { expectedSize: stream.length ?? stream.entry.size }),
            digestAlgorithm: options.digestAlgorithm,
            modifiedTime: options.modifiedTime,
          },
        });
        const total = tree ? undefined : (stream.length ?? stream.entry.size);
        const hash = createHash("sha256");
        let copied = 0n;
        async function* chunks(): AsyncGenerator<Uint8Array> {
          for await (const chunk of stream.chunks) {
            hash.update(chunk);
            copied += BigInt(chunk.length);
            info.bytes += BigInt(chunk.length);
            yield chunk;
          }
          // a read stream closed by the abort may simply end: a tree cut at an entry boundary must not count as complete
          if (stop.signal.aborted) throw cancelled("copy cancelled by the caller; nothing was written");
        }
        const writing = to.write(header, chunks(), stop.signal);
        // settled below; a rejection before then must not count as unhandled
        writing.catch(() => undefined);

        let answer: UploadResponse | undefined;
        while (!answer) {
          answer = await settledWithin(writing, progressEveryMs);
          if (!answer) {
            yield create(CopyResponseSchema, {
              part: { case: "progress", value: create(CopyProgressSchema, { bytesCopied: copied, totalBytes: total }) },
            });
          }
        }
        const sourceDigest = new Uint8Array(hash.digest());
        if (!Buffer.from(answer.sha256).equals(sourceDigest))
          throw dataLoss(
            `${destinationPath}: the destination received bytes with SHA-256 ${Buffer.from(answer.sha256).toString("hex")}, the source sent ${Buffer.from(sourceDigest).toString("hex")}`,
          );
        // the caller's algorithm when the destination answered in it, else the SHA-256 every Upload answers
        const confirmed =
          options.digestAlgorithm !== DigestAlgorithm.UNSPECIFIED && answer.digestAlgorithm === options.digestAlgorithm
            ? { digestAlgorithm: answer.digestAlgorithm, digest: answer.digest }
            : { digestAlgorithm: DigestAlgorithm.SHA256, digest: answer.sha256 };
        yield create(CopyResponseSchema, {
          part: {
            case: "result",
            value: create(CopyResultSchema, { entry: answer.entry, bytesCopied: copied, entriesCopied: answer.entriesExtracted, ...confirmed }),
          },
        });
      } finally {
        stop.signal.removeEventListener("abort", closeOnAbort);
        await stream.close();
      }
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
      // closed early (the caller left, an error): the write in flight is aborted, which removes what it began
      stop.abort();
    }
  };
}

/** Refuses what cannot be written before a byte moves: onto the wrong type, an existing target without overwrite, no parent. */
async function checkDestination(
  to: Awaited<ReturnType<typeof copyDestination>>,
  path: string,
  tree: boolean,
  overwrite: OverwritePolicy,
  makeParents: boolean,
  signal: AbortSignal,
): Promise<void> {
  let there: Awaited<ReturnType<typeof to.stat>>;
  try {
    there = await to.stat(path, signal);
  } catch (err) {
    // Copy asks create (not get) on the destination. Without get there, a file is still safe to
    // write: the destination's own Upload refuses what exists (unless overwrite), a directory in the
    // way and a missing parent. A tree is not: extracting into an existing directory merges into it.
    if (toConnectError(err).code !== Code.PermissionDenied) throw err;
    if (tree)
      throw permissionDenied(
        `${path}: copying a directory needs get on the destination too (to make sure nothing is there): ${toConnectError(err).rawMessage}`,
      );
    return;
  }
  if (there) {
    const isDir = there.type === FileType.DIRECTORY;
    if (tree && !isDir) throw failedPrecondition(`${path}: exists and is not a directory; a directory cannot be copied onto it`);
    if (!tree && isDir) throw failedPrecondition(`${path}: is a directory; name the file to write (a file is copied to exactly destination_path)`);
    if (overwrite !== OverwritePolicy.OVERWRITE) throw targetExists(path, tree ? ", or to merge into it" : "");
    return;
  }
  if (makeParents) return;
  const parent = posix.dirname(posix.join("/", path));
  const dir = await to.stat(parent, signal);
  if (!dir) throw notFound(`${parent}: the destination's parent directory does not exist (set make_parents to create it)`);
  if (dir.type !== FileType.DIRECTORY) throw failedPrecondition(`${parent}: the destination's parent is not a directory`);
}

/** The promise's value if it settles within `ms`, else undefined; its rejection is thrown. */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
