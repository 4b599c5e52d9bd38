// The browser's upload (browsers cannot stream a request body over gRPC or Connect): BeginUpload,
// WriteUploadChunk per chunk, CommitUpload. Size and SHA-256 go in BeginUpload, so the server
// commits the file only when every byte arrived intact. Resumable twice over: a chunk that fails
// with a transient status is retried from the size the server reports (QueryUpload; a repeated
// chunk is idempotent), and a later call given `uploadId` continues an interrupted session.
import { Code } from "@connectrpc/connect";
import { call, overwritePolicy, type FileServiceClient, type UploadOptionsBase, type UploadResult } from "./core.js";
import { PodfilesError, cancelled } from "./errors.js";
import { toHex, type HasherFactory } from "./hasher.js";
import type { ResolvedTarget } from "./target.js";

/** Bytes the upload can read at any offset (a Blob, a buffer): what a retry needs. */
export interface RandomAccessSource {
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface ChunkedUploadOptions extends UploadOptionsBase {
  /** bytes per WriteUploadChunk call (default 1 MiB) */
  chunkSize?: number;
  /** the SHA-256 when the caller knows it (hex or bytes); otherwise the source is read twice */
  sha256?: string | Uint8Array;
  /** continue this session (from an earlier onSession) instead of starting a new one */
  uploadId?: string;
  /** called with the session id once it exists: keep it to resume after a crash */
  onSession?: (uploadId: string) => void;
  /** retries per chunk after a transient failure (default 3) */
  retries?: number;
}

const RETRYABLE = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.Aborted, Code.Unknown, Code.Internal]);
const CHUNK = 1024 * 1024;

export function blobSource(blob: Blob): RandomAccessSource {
  return { size: blob.size, read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()) };
}

export function bytesSource(bytes: Uint8Array): RandomAccessSource {
  return { size: bytes.length, read: async (offset, length) => bytes.subarray(offset, offset + length) };
}

export function hexToBytes(hex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new PodfilesError(`sha256 "${hex}": not 64 hex digits`, Code.InvalidArgument);
  return Uint8Array.from(hex.match(/../g)!, (b) => parseInt(b, 16));
}

export async function digestOf(src: RandomAccessSource, hasher: HasherFactory, chunk: number, signal?: AbortSignal): Promise<Uint8Array> {
  const hash = hasher();
  for (let at = 0; at < src.size; at += chunk) {
    if (signal?.aborted) throw cancelled(signal.reason);
    hash.update(await src.read(at, Math.min(chunk, src.size - at)));
  }
  return hash.digest();
}

export async function chunkedUpload(
  rpc: FileServiceClient,
  hasher: HasherFactory,
  t: ResolvedTarget,
  src: RandomAccessSource,
  o: ChunkedUploadOptions = {},
): Promise<UploadResult> {
  const chunk = o.chunkSize ?? CHUNK;
  const sha256 = typeof o.sha256 === "string" ? hexToBytes(o.sha256) : (o.sha256 ?? (await digestOf(src, hasher, chunk, o.signal)));
  const opts = { signal: o.signal, timeoutMs: o.timeoutMs };
  let uploadId = o.uploadId;
  let offset: number;
  if (uploadId) {
    const q = await call(() => rpc.queryUpload({ ...t, uploadId: uploadId! }, opts));
    offset = Number(q.committedSize);
  } else {
    const begin = await call(() =>
      rpc.beginUpload(
        {
          ...t,
          options: {
            overwrite: overwritePolicy(o.overwrite),
            mode: o.mode,
            uid: o.uid,
            gid: o.gid,
            makeParents: !!o.makeParents,
            expectedSize: BigInt(src.size),
            expectedSha256: sha256,
          },
        },
        opts,
      ),
    );
    uploadId = begin.uploadId;
    offset = Number(begin.committedSize);
  }
  o.onSession?.(uploadId);
  const start = offset;
  try {
    let failures = 0;
    while (offset < src.size) {
      if (o.signal?.aborted) throw cancelled(o.signal.reason);
      const data = await src.read(offset, Math.min(chunk, src.size - offset));
      try {
        const r = await call(() => rpc.writeUploadChunk({ ...t, uploadId: uploadId!, offset: BigInt(offset), data }, opts));
        offset = Number(r.committedSize);
        failures = 0;
        o.onProgress?.({ bytes: offset - start, total: src.size - start });
      } catch (err) {
        if (!(err instanceof PodfilesError) || !RETRYABLE.has(err.code) || ++failures > (o.retries ?? 3) || o.signal?.aborted) throw err;
        offset = Number((await call(() => rpc.queryUpload({ ...t, uploadId: uploadId! }, opts))).committedSize);
      }
    }
    const done = await call(() => rpc.commitUpload({ ...t, uploadId: uploadId! }, opts));
    return { entry: done.entry, bytes: Number(done.bytesReceived), sha256: toHex(done.sha256), offset: start };
  } catch (err) {
    // without onSession nobody can resume this session: give its temp file back now
    if (!o.onSession) await rpc.abortUpload({ ...t, uploadId }).catch(() => undefined);
    throw err;
  }
}
