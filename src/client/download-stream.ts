// A download as the caller sees it: the file's bytes as an async iterable (or a web
// ReadableStream), checked as they pass against the header's length and the trailer's byte count
// and SHA-256. A mismatch fails the iteration with DigestMismatchError, after the last byte and
// before the iteration ends: a consumer that writes somewhere temporary and keeps it only when the
// loop ends normally never keeps bad bytes (downloadToFile does exactly that).
import { ArchiveFormat, type DownloadHeader, type DownloadResponse, type FileEntry } from "../../gen/ts/podfiles/v1/files_pb.js";
import { DigestMismatchError, PodfilesError, dataLoss } from "./errors.js";
import { equalBytes, toHex, type HasherFactory } from "./hasher.js";

/** A message's part; "batch": consecutive data pieces handed on together (the Node fast path). */
export type DownloadPart = DownloadResponse["part"] | { case: "batch"; value: Uint8Array[] };

export interface DownloadInfo {
  entry: FileEntry;
  /** "tar" for a directory (a tar stream of unknown length), else "raw" */
  format: "raw" | "tar";
  /** offset of the first byte */
  offset: number;
  /** bytes that follow (undefined for tar streams) */
  length?: number;
}

export interface DownloadResult {
  bytes: number;
  /** hex SHA-256 of the bytes of this call (checked against the server's) */
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

  constructor(
    parts: AsyncIterable<DownloadPart>,
    private readonly path: string,
    private readonly hasher: HasherFactory,
    private readonly onProgress?: ProgressCallback,
  ) {
    this.parts = parts[Symbol.asyncIterator]();
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
      return infoOf(first.value.value);
    })();
    return this.header;
  }

  /** After the iteration ended normally: the byte count and SHA-256 that were checked. */
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
    const hash = this.hasher();
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
          const digest = hash.digest();
          const sent = Number(part.value.bytesSent);
          if (sent !== received || (info.length !== undefined && info.length !== received)) {
            throw new DigestMismatchError(`${this.path}: received ${received} bytes, the server sent ${sent}`, String(sent), String(received));
          }
          if (!equalBytes(digest, part.value.sha256)) {
            const want = toHex(part.value.sha256);
            throw new DigestMismatchError(`${this.path}: SHA-256 mismatch (got ${toHex(digest)}, server ${want})`, want, toHex(digest));
          }
          this.result = { bytes: received, sha256: toHex(digest) };
          finished = true;
          return;
        }
      }
    } finally {
      if (!finished) await this.parts.return?.().catch(() => undefined);
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

function infoOf(h: DownloadHeader): DownloadInfo {
  return {
    entry: h.entry!,
    format: h.format === ArchiveFormat.TAR ? "tar" : "raw",
    offset: Number(h.offset),
    length: h.length === undefined ? undefined : Number(h.length),
  };
}
