// client.sync(): makes a destination the mirror of a source — local → pod, pod → local or pod →
// pod — sending only what changed. Each side's manifest is taken once (sync-manifest.ts: one Find
// call per remote side); a file is sent when the destination lacks it or differs in size or
// modification time (or, with checksum, in SHA-256), and is then given the source's time, so the
// next run finds it equal. Small files local → pod go in tar batches (sync-batch.ts). Nothing runs
// in the container but the agent: no helper is injected.
//
// Guarantees: every file lands atomically (the upload's temp name + rename; locally NAME.part +
// rename, resumed by the next run), so an interrupted sync leaves each file old or new, never
// half, and running it again finishes the job. Directories are made parents first; with
// `delete`, what the source lacks is removed after the transfers, the topmost entry of each
// missing subtree once. Not synced: symlinks and special files of the source (reported as
// skipped), owners, directory modes and times. A destination entry of the wrong kind (a file where
// the source has a directory, a symlink where it has a directory) is replaced only with `delete`;
// otherwise it fails and nothing below it is touched, so no write goes through a destination
// symlink. Out of scope: a destination changed by someone else while the sync runs.
import * as fs from "node:fs/promises";
import { join, posix } from "node:path";
import { Code, PodfilesError } from "./errors.js";
import type { ClientCore, UploadOptionsBase } from "./core.js";
import type { DownloadFileOptions } from "./local-files.js";
import { copyBetweenPods, type PodCopyClient, type RemotePath } from "./pod-to-pod.js";
import { batchesOf, sendBatch } from "./sync-batch.js";
import { localManifest, localSha256, remoteManifest, type Manifest, type ManifestEntry } from "./sync-manifest.js";

export type SyncEndpoint = { local: string } | { remote: RemotePath };

/** What sync uses of a client (a PodfilesClient has it; named here so this module needs none). */
export type SyncClient = PodCopyClient &
  Pick<ClientCore, "find"> & {
    upload(source: string, target: RemotePath, options?: UploadOptionsBase): Promise<unknown>;
    downloadToFile(target: RemotePath, local: string, options?: DownloadFileOptions): Promise<unknown>;
  };

export interface SyncOptions {
  /** compare SHA-256 (computed by the agent beside the file, and here for local files) instead of size and time */
  checksum?: boolean;
  /** remove what the source lacks from the destination */
  delete?: boolean;
  /** plan only: report what would be done, change nothing */
  dryRun?: boolean;
  /** transfers at a time (default 4) */
  concurrency?: number;
  signal?: AbortSignal;
  /** each action once it is done (or, with dryRun, planned) */
  onAction?: (action: SyncAction) => void;
  /** once the manifests are compared: what is to be sent and removed */
  onPlan?: (plan: { files: number; bytes: number; directories: number; deletes: number }) => void;
}

export interface SyncAction {
  kind: "mkdir" | "create" | "update" | "delete";
  /** relative to the roots ("" is the root itself) */
  path: string;
  /** bytes of a file sent */
  size?: number;
  /** why a file is sent: "new", "size", "time", "checksum", "kind" */
  reason?: string;
}

export interface SyncReport {
  created: number;
  updated: number;
  deleted: number;
  directories: number;
  unchanged: number;
  /** bytes of the files sent (planned, with dryRun) */
  bytes: number;
  /** source entries not synced, and why */
  skipped: { path: string; reason: string }[];
  /** actions that failed; the rest still ran */
  failed: { path: string; message: string; code: Code }[];
  dryRun: boolean;
}

const DEFAULT_CONCURRENCY = 4;
const MKDIRS_PER_TRANSFER = 4;
const MS = 1_000_000n;
const SECOND = 1_000_000_000n;

/**
 * Whether two modification times count as equal: within 2 ms (a time travels as a Date and is
 * listed by the servers in whole milliseconds: two truncations), or the same second when the
 * destination keeps whole seconds (an agent that writes through exec: touch takes no fractions).
 */
export function sameTime(source: bigint, destination: bigint): boolean {
  const d = source - destination;
  if (d < 2n * MS && d > -2n * MS) return true;
  return destination % SECOND === 0n && source / SECOND === destination / SECOND;
}

const isRemote = (e: SyncEndpoint): e is { remote: RemotePath } => "remote" in e;
const describe = (e: SyncEndpoint) => (isRemote(e) ? `${e.remote.container.namespace}/${e.remote.container.pod}:${e.remote.path}` : e.local);

function at(e: SyncEndpoint, rel: string): SyncEndpoint {
  if (!rel) return e;
  return isRemote(e) ? { remote: { container: e.remote.container, path: posix.join(e.remote.path, rel) } } : { local: join(e.local, rel) };
}

interface Plan {
  mkdirs: SyncAction[];
  files: (SyncAction & { entry: ManifestEntry })[];
  /** destination entries to remove before their place is filled (a kind conflict, with delete) */
  replace: Set<string>;
  deletes: SyncAction[];
}

export async function syncTrees(client: SyncClient, source: SyncEndpoint, destination: SyncEndpoint, o: SyncOptions = {}): Promise<SyncReport> {
  if (!isRemote(source) && !isRemote(destination))
    throw new PodfilesError("sync needs a remote side (a pod's path); for two local trees use rsync", Code.InvalidArgument);
  const checksum = !!o.checksum;
  const manifestOf = (e: SyncEndpoint) => (isRemote(e) ? remoteManifest(client, e.remote, { checksum, signal: o.signal }) : localManifest(e.local, o));
  const [from, to] = await Promise.all([manifestOf(source), manifestOf(destination)]);
  if (!from) throw new PodfilesError(`${describe(source)}: no such file or directory`, Code.NotFound);
  const report: SyncReport = { created: 0, updated: 0, deleted: 0, directories: 0, unchanged: 0, bytes: 0, skipped: [], failed: [], dryRun: !!o.dryRun };
  const plan = await planSync(from, to, !!o.delete, { checksum, source, destination, signal: o.signal }, report);
  const done = (a: SyncAction) => {
    o.onAction?.(a);
    if (a.kind === "mkdir") report.directories++;
    else if (a.kind === "delete") report.deleted++;
    else {
      if (a.kind === "create") report.created++;
      else report.updated++;
      report.bytes += a.size ?? 0;
    }
  };
  o.onPlan?.({
    files: plan.files.length,
    bytes: plan.files.reduce((n, f) => n + (f.size ?? 0), 0),
    directories: plan.mkdirs.length,
    deletes: plan.deletes.length,
  });
  if (o.dryRun) {
    for (const a of [...plan.mkdirs, ...plan.files, ...plan.deletes]) done(a);
    return report;
  }
  const fail = (path: string, err: unknown) => {
    const e = PodfilesError.from(err);
    report.failed.push({ path, message: e.rawMessage, code: e.code });
  };
  const run = async (a: SyncAction, fn: () => Promise<void>) => {
    o.signal?.throwIfAborted();
    try {
      if (plan.replace.has(a.path)) await removeAt(client, at(destination, a.path), o.signal);
      await fn();
      done(a);
    } catch (err) {
      if (o.signal?.aborted) throw err;
      fail(a.path, err);
    }
  };
  const concurrency = Math.max(1, o.concurrency ?? DEFAULT_CONCURRENCY);
  // directories level by level, parents before children; a failed one skips what is below it
  const byDepth = new Map<number, SyncAction[]>();
  for (const a of plan.mkdirs) {
    const depth = a.path === "" ? 0 : a.path.split("/").length;
    byDepth.set(depth, [...(byDepth.get(depth) ?? []), a]);
  }
  for (const depth of [...byDepth.keys()].sort((a, b) => a - b)) {
    const ready = byDepth.get(depth)!.filter((a) => !underFailed(report, a.path));
    // a mkdir is one small call: more at once than transfers (201 directories at 4 at a time took 0.75 s here)
    await inParallel(ready, concurrency * MKDIRS_PER_TRANSFER, (a) => run(a, () => mkdirAt(client, at(destination, a.path), o.signal)));
  }
  const files = plan.files.filter((a) => !underFailed(report, a.path));
  const sendOne = (a: (typeof files)[number]) => run(a, () => sendFile(client, at(source, a.path), at(destination, a.path), a.entry, o.signal));
  if (!isRemote(source) && isRemote(destination)) {
    // small files local → pod travel in tar batches (sync-batch.ts); a batch that fails is retried file by file
    const { batches, single } = batchesOf(files.map((a) => ({ ...a.entry, path: a.path, action: a })));
    const sendBatchOf = async (batch: (typeof batches)[number]) => {
      o.signal?.throwIfAborted();
      try {
        for (const f of batch) if (plan.replace.has(f.path)) await removeAt(client, at(destination, f.path), o.signal);
        await sendBatch(client.rpc, source.local, destination.remote, batch, o.signal);
      } catch (err) {
        if (o.signal?.aborted) throw err;
        for (const f of batch) await sendOne(f.action);
        return;
      }
      for (const f of batch) done(f.action);
    };
    await inParallel<() => Promise<void>>([...batches.map((b) => () => sendBatchOf(b)), ...single.map((f) => () => sendOne(f.action))], concurrency, (fn) =>
      fn(),
    );
  } else {
    await inParallel(files, concurrency, sendOne);
  }
  await inParallel(plan.deletes, concurrency, (a) => run(a, () => removeAt(client, at(destination, a.path), o.signal)));
  return report;
}

function underFailed(report: SyncReport, path: string): boolean {
  return report.failed.some((f) => f.path === "" || path.startsWith(`${f.path}/`));
}

interface Sides {
  checksum: boolean;
  source: SyncEndpoint;
  destination: SyncEndpoint;
  signal?: AbortSignal;
}

async function planSync(from: Manifest, destinationManifest: Manifest | undefined, del: boolean, sides: Sides, report: SyncReport): Promise<Plan> {
  const plan: Plan = { mkdirs: [], files: [], replace: new Set(), deletes: [] };
  const blocked: string[] = []; // source directories whose place holds something else (no delete)
  const isBlocked = (rel: string) => blocked.some((b) => rel === b || rel.startsWith(b === "" ? "" : `${b}/`));
  // a manifest without "" is a directory's: the root itself goes in as one
  const root: ManifestEntry = { kind: "directory", size: 0, mtimeNs: 0n, mode: 0o755 };
  if (!from.has("")) from = new Map([["", root], ...from]);
  const to: Manifest = !destinationManifest ? new Map() : destinationManifest.has("") ? destinationManifest : new Map([["", root], ...destinationManifest]);
  const conflict = (rel: string, what: string) => {
    report.failed.push({
      path: rel,
      message: `${rel || "the destination"}: ${what} at the destination (with delete it is replaced)`,
      code: Code.FailedPrecondition,
    });
  };
  for (const rel of [...from.keys()].sort()) {
    if (isBlocked(rel)) continue;
    const s = from.get(rel)!;
    const d = to.get(rel);
    if (s.kind === "directory") {
      if (d?.kind === "directory") continue;
      if (d) {
        if (!del || rel === "") {
          conflict(rel, `a ${d.kind} where the source has a directory`);
          blocked.push(rel);
          continue;
        }
        plan.replace.add(rel);
      }
      plan.mkdirs.push({ kind: "mkdir", path: rel });
    } else if (s.kind === "file") {
      if (d?.kind === "directory") {
        // the root is never replaced: `sync FILE pod:/data --delete` must not remove /data
        if (!del || rel === "") {
          conflict(rel, "a directory where the source has a file");
          blocked.push(rel);
          continue;
        }
        plan.replace.add(rel);
        plan.files.push({ kind: "update", path: rel, size: s.size, reason: "kind", entry: s });
        continue;
      }
      const reason = d === undefined ? "new" : await differs(s, d, rel, sides);
      if (!reason) {
        report.unchanged++;
        continue;
      }
      plan.files.push({ kind: d ? "update" : "create", path: rel, size: s.size, reason, entry: s });
    } else {
      report.skipped.push({ path: rel, reason: s.kind === "symlink" ? "a symlink (not synced)" : "not a regular file or directory" });
    }
  }
  if (del) {
    const removed: string[] = [];
    for (const rel of [...to.keys()].sort()) {
      if (rel === "" || from.has(rel) || isBlocked(rel)) continue;
      if (removed.some((r) => rel.startsWith(`${r}/`))) continue;
      // NAME.part beside a file being fetched is the resumable download's partial file
      if (rel.endsWith(".part") && from.has(rel.slice(0, -".part".length))) continue;
      removed.push(rel);
      plan.deletes.push({ kind: "delete", path: rel });
    }
  }
  return plan;
}

async function differs(s: ManifestEntry, d: ManifestEntry, rel: string, sides: Sides): Promise<string | undefined> {
  if (s.size !== d.size) return "size";
  if (!sides.checksum) return sameTime(s.mtimeNs, d.mtimeNs) ? undefined : "time";
  // remote entries carry the agent's SHA-256; local files are hashed here, only when sizes agree
  const sha = (e: ManifestEntry, side: SyncEndpoint) => e.sha256 ?? (isRemote(side) ? undefined : localSha256(join(side.local, rel), sides.signal));
  const [mine, theirs] = await Promise.all([sha(s, sides.source), sha(d, sides.destination)]);
  return mine && theirs && mine === theirs ? undefined : "checksum";
}

async function mkdirAt(client: SyncClient, e: SyncEndpoint, signal?: AbortSignal): Promise<void> {
  if (!isRemote(e)) {
    await fs.mkdir(e.local, { recursive: true });
    return;
  }
  try {
    await client.mkdir(e.remote, { parents: true, signal });
  } catch (err) {
    if (!(err instanceof PodfilesError && err.code === Code.AlreadyExists)) throw err;
  }
}

async function removeAt(client: SyncClient, e: SyncEndpoint, signal?: AbortSignal): Promise<void> {
  if (isRemote(e)) await client.remove(e.remote, { recursive: true, signal });
  else await fs.rm(e.local, { recursive: true, force: true });
}

async function sendFile(client: SyncClient, from: SyncEndpoint, to: SyncEndpoint, entry: ManifestEntry, signal?: AbortSignal): Promise<void> {
  const modifiedTime = new Date(Number(entry.mtimeNs / MS));
  const mode = entry.mode & 0o777;
  if (isRemote(from) && isRemote(to)) {
    await copyBetweenPods(client, from.remote, to.remote, { overwrite: true, makeParents: false, signal, modifiedTime });
  } else if (isRemote(to)) {
    await client.upload((from as { local: string }).local, to.remote, { overwrite: "overwrite", mode, modifiedTime, signal });
  } else {
    // downloadToFile sets the local file's mode and time from the remote entry. A NAME.part left by
    // an interrupted run is resumed (its last 64 KiB checked against the source); one from an older
    // version of the file fails that check and the file is fetched whole. An existing NAME is the
    // old version, never a partial copy: no resume from it.
    const remote = (from as { remote: RemotePath }).remote;
    const part = await fs.stat(`${to.local}.part`).catch(() => undefined);
    try {
      await client.downloadToFile(remote, to.local, { resume: !!part?.isFile(), signal });
    } catch (err) {
      if (!(part && err instanceof PodfilesError && err.code === Code.FailedPrecondition)) throw err;
      await fs.rm(`${to.local}.part`, { force: true });
      await client.downloadToFile(remote, to.local, { signal });
    }
  }
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
