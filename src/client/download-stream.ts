// A download as the caller sees it: the file's bytes as an async iterable (or a web
// ReadableStream), checked as they pass against the header's length and the trailer's byte count
// and digest (SHA-256 unless the caller chose CRC-32 or none). A mismatch fails the iteration with DigestMismatchError, after the last byte and
// before the iteration ends: a consumer that writes somewhere temporary and keeps it only when the
// loop ends normally never keeps bad bytes (downloadToFile does exactly that).
import { ArchiveFormat, DigestAlgorithm, type DownloadHeader, type DownloadResponse, type FileEntry } from "../../gen/ts/podfiles/v1/files_pb.js";
import { Crc32 } from "./crc32.js";
import { digestResult, reportedBytes, reportedDigest, type DigestResult } from "./digest.js";
import { DigestMismatchError, PodfilesError, dataLoss } from "./errors.js";
import { digestLabel, equalBytes, hasherFor, toHex, type DigestName, type HasherFactory, type StreamHashers } from "./hasher.js";

/** A message's part; "batch": consecutive data pieces handed on together (the Node fast path). */
export type DownloadPart = DownloadResponse["part"] | { case: "batch"; value: Uint8Array[] };

export interface DownloadInfo {
  entry: FileEntry;
  /** "tar" for a directory (a tar stream of unknown length), else "raw" */
  format: "raw" | "tar";
  /** the digest the trailer will carry ("sha256" from a server that predates the choice) */
  digestAlgorithm: DigestName;
  /** offset of the first byte */
  offset: number;
  /** bytes that follow (undefined for tar streams) */
  length?: number;
}

export interface DownloadResult extends DigestResult {
  bytes: number;
  /** hex SHA-256 of the bytes of this call (checked against the server's); "" with another digest */
  sha256: string;
}

export interface Progress {
  /** bytes moved so far in this call */
  bytes: number;
  /** bytes this call will move, when known */
  total?: number;
}

export type ProgressCallback = (p: Progress) => void;

export class DownloadStream implements AsyncIterable<Uint8Array> {
  private readonly parts: AsyncIterator<DownloadPart>;
  private header?: Promise<DownloadInfo>;
  private started = false;
  private result?: DownloadResult;
  private readonly hashers: StreamHashers;

  constructor(
    parts: AsyncIterable<DownloadPart>,
    private readonly path: string,
    /** the SHA-256 factory alone (CRC-32 then comes from crc32.ts), or both (a SHA-256 whose digest may come later: a Web Worker's) */
    hashers: HasherFactory | StreamHashers,
    private readonly onProgress?: ProgressCallback,
    /** the digest asked for: the server must use it (or predate the choice and use SHA-256) */
    private readonly asked?: DigestName,
  ) {
    this.parts = parts[Symbol.asyncIterator]();
    this.hashers = typeof hashers === "function" ? { sha256: hashers, crc32: () => new Crc32() } : hashers;
  }

  /** The header (entry, format, offset, length): waits for the first message. */
  info(): Promise<DownloadInfo> {
    this.header ??= (async () => {
      let first: IteratorResult<DownloadPart>;
      try {
        first = await this.parts.next();
      } catch (err) {
        throw PodfilesError.from(err);
      }
      if (first.done || first.value.case !== "header") throw dataLoss(`${this.path}: the download did not start with a header`);
      const info = infoOf(first.value.value, this.path);
      if (this.asked && first.value.value.digestAlgorithm !== DigestAlgorithm.UNSPECIFIED && info.digestAlgorithm !== this.asked) {
        await this.parts.return?.().catch(() => undefined);
        throw dataLoss(`${this.path}: asked for ${digestLabel[this.asked]}, the server announced ${digestLabel[info.digestAlgorithm]}`);
      }
      return info;
    })();
    return this.header;
  }

  /** After the iteration ended normally: the byte count and digest that were checked. */
  get verified(): DownloadResult | undefined {
    return this.result;
  }

  /** Stops the call (the iteration then fails with CANCELLED unless it already ended). */
  async cancel(): Promise<void> {
    await this.parts.return?.();
  }

  /** The bytes, one chunk per step (pieces that arrived together are joined: one copy). */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for await (const batch of this.batches()) yield batch.length === 1 ? batch[0]! : concat(batch);
  }

  /** The bytes as batches of pieces, no copy (downloadToFile writes each batch with one writev). */
  async *batches(): AsyncGenerator<Uint8Array[]> {
    if (this.started) throw new PodfilesError("a download can be read once", 9 /* FAILED_PRECONDITION */);
    this.started = true;
    const info = await this.info();
    const hash = hasherFor(info.digestAlgorithm, this.hashers);
    let received = 0;
    let finished = false;
    try {
      for (;;) {
        let next: IteratorResult<DownloadPart>;
        try {
          next = await this.parts.next();
        } catch (err) {
          throw PodfilesError.from(err);
        }
        if (next.done) throw dataLoss(`${this.path}: the download ended without its trailer`);
        const part = next.value;
        if (part.case === "data" || part.case === "batch") {
          const pieces = part.case === "data" ? [part.value] : part.value;
          for (const p of pieces) {
            hash.update(p);
            received += p.length;
          }
          this.onProgress?.({ bytes: received, total: info.length });
          yield pieces;
        } else if (part.case === "trailer") {
          const digest = await hash.digest();
          const sent = Number(part.value.bytesSent);
          if (sent !== received || (info.length !== undefined && info.length !== received)) {
            throw new DigestMismatchError(`${this.path}: received ${received} bytes, the server sent ${sent}`, String(sent), String(received));
          }
          const algorithm = info.digestAlgorithm;
          const announced = part.value.digestAlgorithm === DigestAlgorithm.UNSPECIFIED ? "sha256" : reportedDigest(part.value.digestAlgorithm, this.path);
          if (announced !== algorithm)
            throw dataLoss(`${this.path}: the header announced ${digestLabel[algorithm]}, the trailer carries ${digestLabel[announced]}`);
          // with SHA-256 a current server fills both `digest` and `sha256`: both must match
          const sha256Field = part.value.sha256;
          const theirs = algorithm === "sha256" && sha256Field.length > 0 && !equalBytes(digest, sha256Field) ? sha256Field : reportedBytes(part.value);
          if (!equalBytes(digest, theirs)) {
            const want = toHex(theirs);
            throw new DigestMismatchError(
              `${this.path}: ${digestLabel[algorithm]} mismatch (got ${toHex(digest)}, server ${want})`,
              want,
              toHex(digest),
              algorithm,
            );
          }
          this.result = { bytes: received, ...digestResult(algorithm, digest) };
          finished = true;
          return;
        }
      }
    } finally {
      if (!finished) {
        hash.dispose?.();
        await this.parts.return?.().catch(() => undefined);
      }
    }
  }

  /** The same bytes as a web ReadableStream (pull-based: backpressure reaches the call). */
  toWebStream(): ReadableStream<Uint8Array> {
    const it = this[Symbol.asyncIterator]();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await it.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (err) {
          controller.error(err);
        }
      },
      async cancel() {
        await it.return(undefined);
      },
    });
  }
}

function concat(pieces: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function infoOf(h: DownloadHeader, path: string): DownloadInfo {
  return {
    entry: h.entry!,
    format: h.format === ArchiveFormat.TAR ? "tar" : "raw",
    digestAlgorithm: reportedDigest(h.digestAlgorithm, path),
    offset: Number(h.offset),
    length: h.length === undefined ? undefined : Number(h.length),
  };
}
