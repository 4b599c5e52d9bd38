// The browser client: createPodfilesWebClient({ baseUrl }). Connect over fetch (binary), so it
// runs in any browser (and in Node, whose fetch is what the tests use). The same calls as the
// Node client; `upload` is the chunked BeginUpload / WriteUploadChunk / CommitUpload, resumable
// (browsers cannot stream a request body), and SHA-256 is computed by sha256.ts.
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { blobSource, bytesSource, chunkedUpload, type ChunkedUploadOptions } from "./chunked-upload.js";
import { createCore, type ClientCore, type FileServiceClient, type UploadResult } from "./core.js";
import type { StreamHasher } from "./hasher.js";
import { Sha256 } from "./sha256.js";
import type { ContainerRef, Target } from "./target.js";

export interface PodfilesWebClientOptions {
  /** the server's origin (it must allow this page's origin: CORS) */
  baseUrl: string;
  token?: string;
  container?: ContainerRef;
  headers?: Record<string, string>;
  /** a fetch to use instead of the global one */
  fetch?: typeof globalThis.fetch;
  /**
   * the SHA-256 downloads are checked with and chunked uploads hashed with while they send (default:
   * sha256.ts on the calling thread), e.g. one that hashes in a Web Worker, so that hashing and
   * moving the bytes run side by side (the web page's does)
   */
  streamSha256?: () => StreamHasher;
}

/** A Blob (a File from an <input>) or bytes: both can be re-read from any offset, which resume needs. */
export type WebUploadSource = Blob | Uint8Array;

export type WebUploadOptions = ChunkedUploadOptions;

export interface PodfilesWebClient extends ClientCore {
  upload(source: WebUploadSource, target: Target, options?: WebUploadOptions): Promise<UploadResult>;
  readonly rpc: FileServiceClient;
}

export function createPodfilesWebClient(options: PodfilesWebClientOptions): PodfilesWebClient {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const addHeaders: Interceptor = (next) => (req) => {
    for (const [k, v] of Object.entries(headers)) req.header.set(k, v);
    return next(req);
  };
  const transport = createConnectTransport({ baseUrl: options.baseUrl, useBinaryFormat: true, interceptors: [addHeaders], fetch: options.fetch });
  const rpc = createClient(FileService, transport);
  const hasher = () => new Sha256();
  const core = createCore({ rpc, hasher, container: options.container, downloadSha256: options.streamSha256 });
  const uploadHashers = options.streamSha256 ?? hasher;
  return {
    ...core,
    rpc,
    upload: (source, target, o) =>
      chunkedUpload(rpc, uploadHashers, core.resolve(target), source instanceof Uint8Array ? bytesSource(source) : blobSource(source), o),
  };
}
