// The browser's upload (browsers cannot stream a request body over gRPC or Connect): BeginUpload,
// WriteUploadChunk per chunk, CommitUpload. The size goes in BeginUpload, the digest (SHA-256 unless
// the caller chose CRC-32 or none) too when the caller knows it, else it is computed from the chunks
// while they are sent and goes in CommitUpload's trailer: the server commits the file only when every
// byte arrived intact. Resumable twice over: a chunk that fails
// with a transient status is retried from the size the server reports (QueryUpload; a repeated
// chunk is idempotent), and a later call given `uploadId` continues an interrupted session.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { call, overwritePolicy, type FileServiceClient, type UploadOptionsBase, type UploadResult } from "./core.js";
import { PodfilesError, cancelled } from "./errors.js";
import { Crc32 } from "./crc32.js";
import { checkUploadDigest, digestAlgorithmOf, digestOption } from "./digest.js";
import { hasherFor, type DigestName, type StreamHasher, type StreamHashers } from "./hasher.js";
import type { ResolvedTarget } from "./target.js";

/** Bytes the upload can read at any offset (a Blob, a buffer): what a retry needs. */
export interface RandomAccessSource {
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface ChunkedUploadOptions extends UploadOptionsBase {
  /** bytes per WriteUploadChunk call (default 1 MiB) */
  chunkSize?: number;
  /**
   * the SHA-256 when the caller knows it (hex or bytes; digest sha256 only); otherwise the chunks are
   * hashed as they are sent and the digest goes with CommitUpload (a server from before that: the
   * source is read twice, the digest first)
   */
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

/**
 * hashers: the SHA-256 factory alone (CRC-32 then comes from crc32.ts), or both; a SHA-256 whose digest
 * comes later (one in a Web Worker, the page's) is waited for.
 */
export type UploadHashers = (() => StreamHasher) | StreamHashers;
const hashersOf = (h: UploadHashers): StreamHashers => (typeof h === "function" ? { sha256: h, crc32: () => new Crc32() } : h);

export async function digestOf(
  src: RandomAccessSource,
  hasher: UploadHashers,
  chunk: number,
  signal?: AbortSignal,
  digest: DigestName = "sha256",
): Promise<Uint8Array> {
  const hash = hasherFor(digest, hashersOf(hasher));
  try {
    for (let at = 0; at < src.size; at += chunk) {
      if (signal?.aborted) throw cancelled(signal.reason);
      hash.update(await src.read(at, Math.min(chunk, src.size - at)));
    }
  } catch (err) {
    hash.dispose?.();
    throw err;
  }
  return await hash.digest();
}

export async function chunkedUpload(
  rpc: FileServiceClient,
  hasher: UploadHashers,
  t: ResolvedTarget,
  src: RandomAccessSource,
  o: ChunkedUploadOptions = {},
): Promise<UploadResult> {
  const chunk = o.chunkSize ?? CHUNK;
  const digest = digestOption(o.digest);
  if (o.sha256 !== undefined && digest !== "sha256") throw new PodfilesError(`sha256 given with digest ${digest}`, Code.InvalidArgument);
  // the digest given, or none: else it is computed from the chunks as they are sent and given at commit
  let expected: Uint8Array | undefined = digest === "none" ? new Uint8Array(0) : typeof o.sha256 === "string" ? hexToBytes(o.sha256) : o.sha256;
  const opts = { signal: o.signal, timeoutMs: o.timeoutMs };
  const begin = async () => {
    const r = await call(() =>
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
            // SHA-256 the way servers from before the digest choice check it; the others as expected_digest
            ...(digest === "sha256"
              ? { expectedSha256: expected ?? new Uint8Array(0) }
              : { digestAlgorithm: digestAlgorithmOf(digest), expectedDigest: expected ?? new Uint8Array(0) }),
            modifiedTime: o.modifiedTime ? timestampFromDate(o.modifiedTime) : undefined,
          },
        },
        opts,
      ),
    );
    return { uploadId: r.uploadId, offset: Number(r.committedSize), checksTrailer: r.commitChecksTrailer };
  };
  let session: { uploadId: string; offset: number; checksTrailer: boolean };
  if (o.uploadId) {
    const q = await call(() => rpc.queryUpload({ ...t, uploadId: o.uploadId! }, opts));
    session = { uploadId: o.uploadId, offset: Number(q.committedSize), checksTrailer: q.commitChecksTrailer };
  } else {
    session = await begin();
    if (!expected && !session.checksTrailer) {
      // a server from before the commit trailer checks only what BeginUpload said: hash first, begin again
      await rpc.abortUpload({ ...t, uploadId: session.uploadId }).catch(() => undefined);
      expected = await digestOf(src, hasher, chunk, o.signal, digest);
      session = await begin();
    }
  }
  const uploadId = session.uploadId;
  let offset = session.offset;
  o.onSession?.(uploadId);
  const start = offset;
  // hashing while sending: the bytes before the session's committed size first (a resumed session, an append)
  let hash = expected ? undefined : hasherFor(digest, hashersOf(hasher));
  try {
    let hashed = 0;
    const hashUpTo = async (end: number, data?: { at: number; bytes: Uint8Array }) => {
      if (!hash) return;
      if (data && data.at <= hashed && hashed < data.at + data.bytes.length) {
        hash.update(data.bytes.subarray(hashed - data.at, Math.min(end, data.at + data.bytes.length) - data.at));
        hashed = Math.min(end, data.at + data.bytes.length);
      }
      while (hashed < end) {
        if (o.signal?.aborted) throw cancelled(o.signal.reason);
        const bytes = await src.read(hashed, Math.min(chunk, end - hashed));
        hash.update(bytes);
        hashed += bytes.length;
      }
    };
    await hashUpTo(offset);
    let failures = 0;
    while (offset < src.size) {
      if (o.signal?.aborted) throw cancelled(o.signal.reason);
      const data = await src.read(offset, Math.min(chunk, src.size - offset));
      const sending = call(() => rpc.writeUploadChunk({ ...t, uploadId, offset: BigInt(offset), data }, opts));
      // the chunk is hashed while its call is in flight
      const hashing = hashUpTo(offset + data.length, { at: offset, bytes: data });
      try {
        const r = await sending;
        await hashing;
        offset = Number(r.committedSize);
        failures = 0;
        o.onProgress?.({ bytes: offset - start, total: src.size - start });
      } catch (err) {
        await hashing.catch(() => undefined);
        if (!(err instanceof PodfilesError) || !RETRYABLE.has(err.code) || ++failures > (o.retries ?? 3) || o.signal?.aborted) throw err;
        offset = Number((await call(() => rpc.queryUpload({ ...t, uploadId }, opts))).committedSize);
      }
    }
    const hashedWhileSent = !!hash;
    if (hash) {
      await hashUpTo(src.size);
      const done = hash;
      hash = undefined; // its digest() releases it
      expected = await done.digest();
    }
    const trailer = hashedWhileSent && session.checksTrailer ? { expectedDigest: expected!, expectedSize: BigInt(src.size) } : undefined;
    const done = await call(() => rpc.commitUpload({ ...t, uploadId, trailer }, opts));
    return { entry: done.entry, bytes: Number(done.bytesReceived), offset: start, ...checkUploadDigest(done, digest, expected!, t.path) };
  } catch (err) {
    hash?.dispose?.();
    // without onSession nobody can resume this session: give its temp file back now
    if (!o.onSession) await rpc.abortUpload({ ...t, uploadId }).catch(() => undefined);
    throw err;
  }
}
