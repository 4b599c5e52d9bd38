// pod → pod (cp and sync): the SDK's copy (the Copy RPC: the source's agent streams to the
// destination's, the bytes never pass through this process) when the client has it and the
// server answers it; otherwise streamed through this process — one Download piped into one
// Upload, nothing spooled, at most a few chunks in memory.
//
// The streamed path sends no expected SHA-256 (it is known only at the download's end), so:
// the download checks its trailer's SHA-256 before the upload's request stream ends (a mismatch
// throws first, the upload is cancelled and nothing is written), and the SHA-256 the destination
// reports is then compared with the source's; a difference removes the file (DATA_LOSS).
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ArchiveFormat, FileType, OverwritePolicy, type FileEntry } from "../../gen/ts/podfiles/v1/files_pb.js";
import { Code, PodfilesError } from "./errors.js";
import type { ClientCore, FileServiceClient } from "./core.js";
import type { ContainerRef } from "./target.js";

/** What pod → pod copying uses of a client (a PodfilesClient has it). */
export type PodCopyClient = Pick<ClientCore, "stat" | "copy" | "download" | "mkdir" | "remove"> & { readonly rpc: FileServiceClient };

/** A path in a named container. */
export interface RemotePath {
  container: ContainerRef;
  path: string;
}

export interface PodCopyOptions {
  overwrite: boolean;
  makeParents: boolean;
  signal?: AbortSignal;
  onProgress?: (p: { bytes: number; total?: number }) => void;
  /** a file's modification time at the destination */
  modifiedTime?: Date;
}

export interface PodCopyResult {
  entry?: FileEntry;
  bytes: number;
  /** entries of a tree */
  entries?: number;
  /** "copy": the Copy RPC; "stream": through this process */
  via: "copy" | "stream";
  /** Why the Copy RPC was not used, when it was tried. */
  fallback?: string;
}

export async function copyBetweenPods(client: PodCopyClient, from: RemotePath, to: RemotePath, o: PodCopyOptions): Promise<PodCopyResult> {
  try {
    // Copy writes a file 0644 unless told: keep the source's bits, as the streamed path does
    const source = await client.stat(from, { followSymlinks: true, signal: o.signal });
    const r = await client.copy(from, to, {
      overwrite: o.overwrite ? "overwrite" : "fail",
      mode: source.type === FileType.REGULAR ? source.mode & 0o777 : undefined,
      makeParents: o.makeParents,
      signal: o.signal,
      onProgress: o.onProgress,
      modifiedTime: o.modifiedTime,
    });
    return { entry: r.entry, bytes: r.bytes, entries: r.entries, via: "copy" };
  } catch (err) {
    // A server without the Copy RPC (an older agent), or agents that cannot reach each other
    // (UNAVAILABLE: e.g. agents listening on loopback, reached by this client through API-server
    // tunnels; measured in test/e2e/cli-cp.spec.ts): stream it through here instead. Copy leaves
    // nothing at the destination when it fails, so the second way starts clean.
    if (!(err instanceof PodfilesError && (err.code === Code.Unimplemented || err.code === Code.Unavailable))) throw err;
    const r = await streamCopy(client, from, to, o);
    return { ...r, fallback: err.code === Code.Unimplemented ? "the server has no Copy RPC" : `Copy failed: ${err.message}` };
  }
}

async function streamCopy(client: PodCopyClient, from: RemotePath, to: RemotePath, o: PodCopyOptions): Promise<PodCopyResult> {
  const stream = client.download(from, { signal: o.signal, onProgress: o.onProgress });
  const info = await stream.info();
  const tar = info.format === "tar";
  if (tar) {
    try {
      await client.mkdir(to, { parents: o.makeParents, signal: o.signal });
    } catch (err) {
      if (!(err instanceof PodfilesError && err.code === Code.AlreadyExists)) throw err;
    }
  }
  const header = {
    container: { namespace: to.container.namespace, pod: to.container.pod, container: to.container.container ?? "" },
    path: to.path,
    options: {
      overwrite: o.overwrite ? OverwritePolicy.OVERWRITE : OverwritePolicy.FAIL,
      // the source's permission bits (never setuid/setgid: the destination may refuse them)
      mode: tar || info.entry.type !== FileType.REGULAR ? undefined : info.entry.mode & 0o777,
      makeParents: o.makeParents && !tar,
      expectedSize: tar ? undefined : BigInt(info.length ?? Number(info.entry.size)),
      format: tar ? ArchiveFormat.TAR : ArchiveFormat.RAW,
      modifiedTime: o.modifiedTime && !tar ? timestampFromDate(o.modifiedTime) : undefined,
    },
  };
  async function* requests() {
    yield { part: { case: "header" as const, value: header } };
    for await (const chunk of stream) yield { part: { case: "data" as const, value: chunk } };
  }
  let res;
  try {
    res = await client.rpc.upload(requests(), { signal: o.signal });
  } catch (err) {
    await stream.cancel().catch(() => undefined);
    throw PodfilesError.from(err);
  }
  const sent = stream.verified?.sha256;
  const got = Buffer.from(res.sha256).toString("hex");
  if (sent && res.sha256.length > 0 && got !== sent) {
    if (!tar) await client.remove(to).catch(() => undefined);
    throw new PodfilesError(`${to.path}: the destination received bytes with SHA-256 ${got}, the source sent ${sent}; removed`, Code.DataLoss);
  }
  return { entry: res.entry, bytes: Number(res.bytesReceived), entries: res.entriesExtracted || undefined, via: "stream" };
}
