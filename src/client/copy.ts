// ClientCore.copy: a file or a directory tree from one container to another, done by the agents
// (the source's agent reads it and writes to the destination's), never through this client.
// Progress arrives about once a second; the result names what was written and the digest the
// destination confirmed. Aborting the signal cancels the call, and the copy leaves nothing.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DigestAlgorithm, OverwritePolicy, type FileEntry } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { Client } from "@connectrpc/connect";
import type { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { ProgressCallback } from "./download-stream.js";
import { PodfilesError, dataLoss } from "./errors.js";
import { toHex } from "./hasher.js";
import type { ResolvedTarget, Target } from "./target.js";

export type CopyDigest = "sha256" | "crc32" | "none";

export interface CopyOptions {
  signal?: AbortSignal;
  /** milliseconds for the whole call */
  timeoutMs?: number;
  /** an existing destination: "fail" (ALREADY_EXISTS, the default) or "overwrite" (a file replaced atomically; a tree merged into the directory) */
  overwrite?: "fail" | "overwrite";
  /** permission bits of a copied file (default 0644, or the replaced file's) */
  mode?: number;
  uid?: number;
  gid?: number;
  /** create the destination's missing parent directories */
  makeParents?: boolean;
  /** the digest the destination confirms (default SHA-256; the server answers SHA-256 where it cannot give another) */
  digest?: CopyDigest;
  /** a copied file's modification time at the destination (not for a tree) */
  modifiedTime?: Date;
  /** bytes copied so far; total for a file (a tree's size is not known up front) */
  onProgress?: ProgressCallback;
}

export interface CopyResult {
  /** the destination entry (file or directory) */
  entry?: FileEntry;
  bytes: number;
  /** hex digest of the bytes moved (the file, or a tree's tar stream), as the destination computed it */
  digest: string;
  digestAlgorithm: CopyDigest;
  /** a tree: entries written */
  entries?: number;
}

const algorithms: Record<CopyDigest, DigestAlgorithm> = { sha256: DigestAlgorithm.SHA256, crc32: DigestAlgorithm.CRC32, none: DigestAlgorithm.NONE };
const names = new Map<DigestAlgorithm, CopyDigest>([
  [DigestAlgorithm.UNSPECIFIED, "sha256"],
  [DigestAlgorithm.SHA256, "sha256"],
  [DigestAlgorithm.CRC32, "crc32"],
  [DigestAlgorithm.NONE, "none"],
]);

export async function copyBetween(
  rpc: Client<typeof FileService>,
  resolve: (t: Target) => ResolvedTarget,
  source: Target,
  destination: Target,
  o: CopyOptions = {},
): Promise<CopyResult> {
  const from = resolve(source);
  const to = resolve(destination);
  const request = {
    container: from.container,
    path: from.path,
    destination: to.container,
    destinationPath: to.path,
    options: {
      overwrite: o.overwrite === "overwrite" ? OverwritePolicy.OVERWRITE : OverwritePolicy.FAIL,
      mode: o.mode,
      uid: o.uid,
      gid: o.gid,
      makeParents: !!o.makeParents,
      digestAlgorithm: o.digest ? algorithms[o.digest] : DigestAlgorithm.UNSPECIFIED,
      modifiedTime: o.modifiedTime ? timestampFromDate(o.modifiedTime) : undefined,
    },
  };
  try {
    for await (const m of rpc.copy(request, { signal: o.signal, timeoutMs: o.timeoutMs })) {
      if (m.part.case === "progress") {
        const p = m.part.value;
        o.onProgress?.({ bytes: Number(p.bytesCopied), ...(p.totalBytes !== undefined ? { total: Number(p.totalBytes) } : {}) });
      } else if (m.part.case === "result") {
        const r = m.part.value;
        o.onProgress?.({ bytes: Number(r.bytesCopied) });
        return {
          entry: r.entry,
          bytes: Number(r.bytesCopied),
          digest: toHex(r.digest),
          digestAlgorithm: names.get(r.digestAlgorithm) ?? "sha256",
          ...(r.entriesCopied ? { entries: r.entriesCopied } : {}),
        };
      }
    }
  } catch (err) {
    throw PodfilesError.from(err);
  }
  throw dataLoss(`${from.path}: the copy ended without a result`);
}
