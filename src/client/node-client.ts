// The Node client: createPodfilesClient({ baseUrl, token }). One HTTP/2 connection with large
// windows (8 MiB per stream, 32 MiB for the connection) and 16 MiB messages; the small calls go
// through the generated connect-node client, Download and Upload through grpc-h2.ts (no
// per-message copies). Every transfer is checked: downloads against the trailer's length and
// digest, uploads carry the size and digest so the server commits nothing else (SHA-256 unless
// the caller chose CRC-32, or none: sizes only). A digest (or a stream's size) the caller did not
// give is computed while sending and goes in the UploadTrailer: a file is read once.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import type * as http2 from "node:http2";
import { Readable } from "node:stream";
import { crc32 } from "node:zlib";
import { createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport, type Http2SessionManager } from "@connectrpc/connect-node";
import { ArchiveFormat, FileService, FileType, OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { hexToBytes } from "./chunked-upload.js";
import {
  createCore,
  overwritePolicy,
  type CallOptions,
  type ClientCore,
  type DownloadOptions,
  type FileServiceClient,
  type UploadOptionsBase,
  type UploadResult,
} from "./core.js";
import type { DownloadStream } from "./download-stream.js";
import { Code, PodfilesError, dataLoss, failedPrecondition, invalidArgument } from "./errors.js";
import { fastDownload } from "./fast-download.js";
import { TrailedFrames, fastUpload, fileFrames, trailerFrame, viewFrames, type Frame } from "./fast-upload.js";
import { checkUploadDigest, digestAlgorithmOf, digestOption, digestResult } from "./digest.js";
import { hasherFor, type DigestHashers, type DigestName } from "./hasher.js";
import { digestFile, downloadToFile, RESUME_OVERLAP, type DownloadFileOptions, type DownloadFileResult } from "./local-files.js";
import { syncTrees, type SyncEndpoint, type SyncOptions, type SyncReport } from "./sync.js";
import type { ContainerRef, ResolvedTarget, Target } from "./target.js";
import { WideSessionManager, wideNodeOptions } from "./wide-session-manager.js";

const MiB = 1024 * 1024;

export interface PodfilesClientOptions {
  /** http://host:port (h2c) or https://host:port (TLS) */
  baseUrl: string;
  /** sent as "Authorization: Bearer …" */
  token?: string;
  /** the container of calls that name only a path */
  container?: ContainerRef;
  /** extra request headers */
  headers?: Record<string, string>;
  /** node:http2 connect options (TLS: ca, cert, key, servername…), merged over the wide windows */
  nodeOptions?: http2.ClientSessionOptions | http2.SecureClientSessionOptions;
  /** largest message either way (default 16 MiB) */
  maxMessageBytes?: number;
}

/** What an upload reads: a local file path, bytes, a Node Readable or any async iterable of bytes. */
export type UploadSource = string | Uint8Array | Readable | AsyncIterable<Uint8Array>;

export interface UploadOptions extends UploadOptionsBase {
  /**
   * The remote file is a partial copy of the source (its first bytes; an upload through this SDK
   * is atomic and never leaves one, but other tools do): append the rest at its size, after
   * checking that its last 64 KiB match the source. File paths and bytes only.
   */
  resume?: boolean;
  /**
   * A stream's size, and the SHA-256 of the source (hex or bytes; digest sha256 only), when known:
   * sent in the header. Unknown ones are computed while sending and sent in the UploadTrailer.
   */
  size?: number;
  sha256?: string | Uint8Array;
  /** bytes per message (default 1 MiB, at most 4 MiB) */
  chunkSize?: number;
  /**
   * @deprecated never called: the digest is computed while sending (onProgress), there is no
   * hashing pass before it any more
   */
  onHashProgress?: (bytes: number, total: number) => void;
}

export interface DirectoryUploadOptions extends CallOptions {
  /** create missing parents of the remote directory */
  makeParents?: boolean;
  /** owner ids written into the tar headers (default: the local files') */
  uid?: number;
  gid?: number;
  /** entries that cannot go into a tar (sockets, devices) */
  warn?: (message: string) => void;
  onProgress?: UploadOptionsBase["onProgress"];
  /** the digest of the tar stream, as for upload (default sha256) */
  digest?: DigestName;
}

export interface NodeDownloadStream extends DownloadStream {
  /** the bytes as a Node Readable (errors — a digest mismatch too — destroy it) */
  toReadable(): Readable;
}

export interface PodfilesClient extends ClientCore {
  download(target: Target, options?: DownloadOptions): NodeDownloadStream;
  /** a regular file into `local` via `local.part`, atomically, resumable */
  downloadToFile(target: Target, local: string, options?: DownloadFileOptions): Promise<DownloadFileResult>;
  /** a remote directory as a tar stream, extracted into `local` (created); entries leaving it are refused */
  downloadDirectory(
    target: Target,
    local: string,
    options?: CallOptions & { warn?: (m: string) => void; onProgress?: DownloadOptions["onProgress"]; digest?: DigestName },
  ): Promise<{ entries: number; skipped: number }>;
  upload(source: UploadSource, target: Target, options?: UploadOptions): Promise<UploadResult>;
  /** a local directory's contents, sent as tar and extracted into the remote directory (created) */
  uploadDirectory(local: string, target: Target, options?: DirectoryUploadOptions): Promise<UploadResult>;
  /** makes `destination` the mirror of `source` (local ↔ pod, pod ↔ pod), sending only what changed */
  sync(source: SyncEndpoint, destination: SyncEndpoint, options?: SyncOptions): Promise<SyncReport>;
  /** the generated client on the same connection, for anything else */
  readonly rpc: FileServiceClient;
  /** closes the connection (a process can then exit) */
  close(): void;
}

const nodeHasher = () => {
  const h = createHash("sha256");
  return { update: (d: Uint8Array) => h.update(d), digest: () => new Uint8Array(h.digest()) };
};

/** zlib's CRC-32, 4 bytes big-endian (as the server sends it). */
const nodeCrc32 = () => {
  let value = 0;
  return {
    update: (d: Uint8Array) => void (value = crc32(d, value)),
    digest: () => {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, value >>> 0);
      return out;
    },
  };
};

const nodeHashers: DigestHashers = { sha256: nodeHasher, crc32: nodeCrc32 };

/**
 * How a client's calls reach a server: one connection (createPodfilesClient's baseUrl) or, with a
 * kubeconfig, a tunnel per node (kube-client.ts). `headers` go on every call; a route may refresh
 * them (exec-plugin tokens) before it hands out a connection.
 */
export interface ClientRoute {
  /** the small calls (list, stat, mkdir…): connect-node's gRPC transport, or one that picks one per call */
  transport: Transport;
  /** the HTTP/2 connection for a call on this container (Download and Upload go over it directly) */
  managerFor(container: ResolvedTarget["container"]): Promise<Http2SessionManager>;
  /** a failure of a call on this container, restated (a tunnel that closed under it) */
  restate?(container: ResolvedTarget["container"], err: unknown, startedAt: number): unknown;
  close(): void;
}

/** The wide-window node:http2 options every client connection uses. */
export function clientNodeOptions(nodeOptions?: PodfilesClientOptions["nodeOptions"]): http2.ClientSessionOptions | http2.SecureClientSessionOptions {
  // maxFrameSize: the server may send DATA frames up to 1 MiB (16 KiB by default: 65,536 'data' events per GiB, each hashed and written on its own)
  return { ...nodeOptions, settings: { ...wideNodeOptions.settings, maxFrameSize: MiB - 1, ...nodeOptions?.settings } };
}

/** connect-node's gRPC transport on one session manager, with the client's headers and message limits. */
export function clientTransport(
  baseUrl: string,
  manager: Http2SessionManager,
  nodeOptions: http2.ClientSessionOptions | http2.SecureClientSessionOptions,
  headers: Record<string, string>,
  maxMessageBytes = 16 * MiB,
): Transport {
  const addHeaders: Interceptor = (next) => (req) => {
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };
  return createGrpcTransport({
    baseUrl,
    nodeOptions,
    sessionManager: manager,
    readMaxBytes: maxMessageBytes,
    writeMaxBytes: maxMessageBytes,
    interceptors: [addHeaders],
  });
}

export function createPodfilesClient(options: PodfilesClientOptions): PodfilesClient {
  const baseUrl = checkedUrl(options.baseUrl);
  const nodeOptions = clientNodeOptions(options.nodeOptions);
  const manager = new WideSessionManager(baseUrl, nodeOptions);
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const transport = clientTransport(baseUrl, manager, nodeOptions, headers, options.maxMessageBytes);
  return clientOnRoute({ transport, managerFor: async () => manager, close: () => manager.abort() }, headers, options.container);
}

/** The Node client over a route (one server, or a cluster's agents). */
export function clientOnRoute(route: ClientRoute, headers: Record<string, string>, container: ContainerRef | undefined): PodfilesClient {
  const rpc = createClient(FileService, route.transport);
  const restated = async <T>(c: ResolvedTarget["container"], fn: () => Promise<T>): Promise<T> => {
    const startedAt = Date.now();
    try {
      return await fn();
    } catch (err) {
      throw route.restate ? route.restate(c, err, startedAt) : err;
    }
  };
  const core = createCore({
    rpc,
    hasher: nodeHasher,
    crc32: nodeCrc32,
    container,
    downloadParts: async function* (req, o) {
      const startedAt = Date.now();
      try {
        yield* fastDownload(await route.managerFor(req.container), headers, req, o);
      } catch (err) {
        throw route.restate ? route.restate(req.container, err, startedAt) : err;
      }
    },
  });

  const download = (target: Target, o?: DownloadOptions): NodeDownloadStream => {
    const stream = core.download(target, o) as NodeDownloadStream;
    stream.toReadable = () => Readable.from(stream, { objectMode: false, highWaterMark: 0 });
    return stream;
  };

  async function uploadFrames(
    t: ResolvedTarget,
    o: UploadOptions,
    plan: { offset: number; size?: number; digest: DigestName; expected?: Uint8Array; format?: ArchiveFormat },
    frames: () => AsyncIterable<Frame>,
    /** the source read again for what the trailer carries, for a server older than the trailer (sources that can be read again) */
    again?: () => Promise<{ size: number; expected: Uint8Array }>,
  ): Promise<UploadResult> {
    const appending = plan.offset > 0;
    const total = plan.size === undefined ? undefined : plan.size - plan.offset;
    // what the header cannot say goes in the trailer: the digest computed while sending, the size counted
    const hashing = plan.expected === undefined && plan.digest !== "none";
    const trailed = new TrailedFrames(
      frames(),
      hashing || total === undefined ? { hash: hashing ? hasherFor(plan.digest, nodeHashers) : undefined, size: total === undefined } : undefined,
    );
    const header = {
      container: t.container,
      path: t.path,
      options: {
        overwrite: appending ? OverwritePolicy.APPEND : overwritePolicy(o.overwrite),
        offset: BigInt(plan.offset),
        mode: o.mode,
        uid: o.uid,
        gid: o.gid,
        makeParents: !!o.makeParents,
        expectedSize: total === undefined ? undefined : BigInt(total),
        // SHA-256 the way servers from before the digest choice check it; the others as expected_digest
        ...(plan.digest === "sha256" ? { expectedSha256: plan.expected } : { digestAlgorithm: digestAlgorithmOf(plan.digest), expectedDigest: plan.expected }),
        format: plan.format ?? ArchiveFormat.RAW,
        modifiedTime: o.modifiedTime ? timestampFromDate(o.modifiedTime) : undefined,
      },
    };
    const res = await restated(t.container, async () =>
      fastUpload(await route.managerFor(t.container), headers, header, trailed, {
        signal: o.signal,
        timeoutMs: o.timeoutMs,
        onSent: (bytes) => o.onProgress?.({ bytes, total }),
      }),
    ).catch((err: unknown) => {
      if (again && refusedTrailer(err)) return undefined;
      throw olderServer(err, t.path);
    });
    // it wrote nothing (it failed the call at the trailer): the old way, a first pass for the digest, then the send
    if (!res) return uploadFrames(t, o, { ...plan, ...(await again!()) }, frames);
    // a server that answered OK before taking everything (or ignored the trailer) committed something else
    if (!trailed.done || res.bytesReceived !== BigInt(trailed.bytes)) {
      throw dataLoss(`${t.path}: the server received ${res.bytesReceived} bytes and answered OK, ${trailed.bytes}${trailed.done ? "" : " or more"} were sent`);
    }
    return {
      entry: res.entry,
      bytes: Number(res.bytesReceived),
      offset: plan.offset,
      entries: res.entriesExtracted || undefined,
      ...checkUploadDigest(res, plan.digest, plan.expected ?? trailed.digest(), t.path),
    };
  }

  /** With resume: where to continue the remote file, after checking that its tail matches ours. */
  async function resumeOffset(t: ResolvedTarget, size: number, readLocal: (at: number, n: number) => Promise<Uint8Array>, o: UploadOptions): Promise<number> {
    let remote;
    try {
      remote = await core.stat(t, o);
    } catch (err) {
      if (err instanceof PodfilesError && err.code === Code.NotFound) return 0;
      throw err;
    }
    if (remote.type !== FileType.REGULAR) throw failedPrecondition(`${t.path}: not a regular file, cannot resume into it`);
    const have = Number(remote.size);
    if (have > size) throw failedPrecondition(`${t.path} has ${have} bytes, more than the ${size} to upload: not a partial copy of it`);
    const overlap = Math.min(have, RESUME_OVERLAP);
    if (overlap > 0) {
      const chunks: Uint8Array[] = [];
      for await (const c of core.download(t, { offset: have - overlap, length: overlap, signal: o.signal })) chunks.push(c);
      const theirs = Buffer.concat(chunks);
      if (!theirs.equals(await readLocal(have - overlap, overlap)))
        throw failedPrecondition(`${t.path} differs from the source before byte ${have}: upload it again without resume`);
    }
    return have;
  }

  /** known: the digest of the whole file in `digest`, given by the caller */
  async function uploadFile(path: string, t: ResolvedTarget, o: UploadOptions, digest: DigestName, known?: Uint8Array): Promise<UploadResult> {
    const fh = await fs.promises.open(path, "r").catch((err) => Promise.reject(PodfilesError.from(err)));
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw invalidArgument(`${path}: not a regular file`);
      const size = st.size;
      const readLocal = async (at: number, n: number) => {
        const b = Buffer.alloc(n);
        await fh.read(b, 0, n, at);
        return b;
      };
      const offset = o.resume ? await resumeOffset(t, size, readLocal, o) : 0;
      if (o.resume && offset === size) {
        const entry = await core.stat(t, o);
        return { entry, bytes: 0, offset, ...digestResult(digest, hasherFor(digest, nodeHashers).digest()) };
      }
      const expected = offset === 0 ? known : undefined;
      const again = async () => ({ size, expected: await digestFile(fh.fd, offset, size, o.signal, undefined, hasherFor(digest, nodeHashers)) });
      return await uploadFrames(t, o, { offset, size, digest, expected }, () => fileFrames(fh.fd, offset, size, chunkOf(o)), again);
    } finally {
      await fh.close();
    }
  }

  async function upload(source: UploadSource, target: Target, o: UploadOptions = {}): Promise<UploadResult> {
    const t = core.resolve(target);
    const digest = digestOption(o.digest);
    if (o.sha256 !== undefined && digest !== "sha256") throw invalidArgument(`sha256 given with digest ${digest}`);
    const known = o.sha256 === undefined ? undefined : typeof o.sha256 === "string" ? hexToBytes(o.sha256) : o.sha256;
    if (typeof source === "string") return uploadFile(source, t, o, digest, known);
    if (source instanceof Uint8Array) {
      const bytes = source;
      const offset = o.resume ? await resumeOffset(t, bytes.length, async (at, n) => bytes.subarray(at, at + n), o) : 0;
      const rest = bytes.subarray(offset);
      const plan = { offset, size: bytes.length, digest, expected: offset === 0 ? known : undefined };
      const again = async () => ({ size: bytes.length, expected: digestOf(digest, [rest]) });
      return uploadFrames(t, o, plan, () => viewFrames(chunksOf(rest, chunkOf(o))), again);
    }
    if (o.resume) throw invalidArgument("resume needs a file path or bytes (a stream cannot be read again from an offset)");
    // sent as it is read; what is unknown (size, digest) goes in the trailer
    return uploadFrames(t, o, { offset: 0, size: o.size, digest, expected: known }, () => viewFrames(source as AsyncIterable<Uint8Array>));
  }

  async function uploadDirectory(local: string, target: Target, o: DirectoryUploadOptions = {}): Promise<UploadResult> {
    const t = core.resolve(target);
    const { packDirectory } = await import("./tar.js");
    const pack = () => packDirectory(local, { uid: o.uid, gid: o.gid, warn: o.warn });
    const digest = digestOption(o.digest);
    try {
      await core.mkdir(t, { parents: o.makeParents, signal: o.signal });
    } catch (err) {
      if (!(err instanceof PodfilesError && err.code === Code.AlreadyExists)) throw err;
    }
    // packed once: the size and digest go in the trailer
    const plan = { offset: 0, digest, format: ArchiveFormat.TAR };
    const send = (p: typeof plan & { size?: number; expected?: Uint8Array }) =>
      uploadFrames(t, { ...o, makeParents: false }, p, () => viewFrames(coalesce(pack(), MiB)));
    // a tar into an existing directory is extracted as it arrives: a server older than the trailer
    // (which would refuse it only at the end, entries written) is asked first, and gets the old
    // way: a first pass over the pack (byte-identical for an unchanged tree) for its size and digest
    if (await takesTrailer(t, o)) return send(plan);
    const hash = hasherFor(digest, nodeHashers);
    let size = 0;
    for await (const c of pack()) {
      hash.update(c);
      size += c.length;
    }
    return send({ ...plan, size, expected: hash.digest() });
  }

  /**
   * Whether the server reads an UploadTrailer: a tar Upload into the directory whose header says 0
   * bytes and whose trailer says 1. A server that knows the trailer refuses the disagreement, one
   * from before it the trailer itself; neither writes anything.
   */
  async function takesTrailer(t: ResolvedTarget, o: CallOptions): Promise<boolean> {
    const header = { container: t.container, path: t.path, options: { format: ArchiveFormat.TAR, expectedSize: 0n, overwrite: OverwritePolicy.FAIL } };
    const probe = async function* () {
      yield trailerFrame({ expectedSize: 1n });
    };
    try {
      await restated(t.container, async () =>
        fastUpload(await route.managerFor(t.container), headers, header, probe(), { signal: o.signal, timeoutMs: o.timeoutMs }),
      );
    } catch (err) {
      if (refusedTrailer(err)) return false;
      if (err instanceof PodfilesError && err.code === Code.InvalidArgument && /trailer's expected_size 1 differs/.test(err.rawMessage)) return true;
      throw err;
    }
    throw dataLoss(`${t.path}: the server accepted an upload whose header and trailer disagree`);
  }

  const client: PodfilesClient = {
    ...core,
    rpc,
    download,
    downloadToFile: (target, local, o = {}) => {
      const t = core.resolve(target);
      return downloadToFile((offset) => download(t, { ...o, offset }), t.path, local, o);
    },
    async downloadDirectory(target, local, o = {}) {
      const t = core.resolve(target);
      const stream = download(t, { signal: o.signal, timeoutMs: o.timeoutMs, onProgress: o.onProgress, digest: o.digest });
      const info = await stream.info();
      if (info.format !== "tar") {
        await stream.cancel();
        throw failedPrecondition(`${t.path} is not a directory: use downloadToFile`);
      }
      const { extractTar } = await import("./tar.js");
      return extractTar(local, stream, o.warn);
    },
    upload,
    uploadDirectory,
    sync: (source, destination, o) => syncTrees(client, source, destination, o),
    close: () => route.close(),
  };
  return client;
}

/** A server from before the UploadTrailer refused it (its words; it wrote nothing). */
const refusedTrailer = (err: unknown) =>
  err instanceof PodfilesError && err.code === Code.InvalidArgument && /only data messages may follow the Upload header$/.test(err.rawMessage);

/** That refusal said plainly, for a source that cannot be read again. */
function olderServer(err: unknown, path: string): unknown {
  if (refusedTrailer(err)) {
    return failedPrecondition(
      `${path}: the server predates the upload trailer (a stream's digest and size computed while sending): give sha256 and size, or upgrade the server`,
    );
  }
  return err;
}

const chunkOf = (o: UploadOptions) => Math.min(Math.max(o.chunkSize ?? MiB, 16 * 1024), 4 * MiB);

function digestOf(digest: DigestName, chunks: Uint8Array[]): Uint8Array {
  const h = hasherFor(digest, nodeHashers);
  for (const c of chunks) h.update(c);
  return h.digest();
}

function* chunksOf(bytes: Uint8Array, chunk: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += chunk) yield bytes.subarray(at, at + chunk);
}

/** Small pieces (tar-stream writes headers and file data separately) into messages of about `size` bytes. */
async function* coalesce(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array[] = [];
  let bytes = 0;
  for await (const c of source) {
    pending.push(c);
    bytes += c.length;
    if (bytes >= size) {
      yield Buffer.concat(pending, bytes);
      pending = [];
      bytes = 0;
    }
  }
  if (bytes > 0) yield Buffer.concat(pending, bytes);
}

function checkedUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidArgument(`baseUrl ${raw}: not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalidArgument(`baseUrl ${raw}: use http:// (h2c) or https://`);
  return url.origin;
}
