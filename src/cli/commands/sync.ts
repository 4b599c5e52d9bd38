// podfiles sync [--dry-run] [--delete] [--checksum] [-v] [--json] [-j N] SRC DST — makes DST the mirror of SRC
// (local → pod, pod → local, pod → pod; a directory's contents, or one file), sending only what
// changed: the SDK's sync (src/client/sync.ts) does the work. Nothing is injected into the
// container (rsync, mutagen and devspace need a helper there).
//   + path   a file the destination lacks          ~ path   a file that differs (size, time, checksum)
//   d path/  a directory made                      - path   removed (--delete)
// Failures are listed on stderr and the rest still runs; any failure exits 1.
import type { Command } from "commander";
import { Code, PodfilesError } from "../../client/errors.js";
import type { SyncAction, SyncEndpoint, SyncReport } from "../../client/sync.js";
import { addTargetOptions, type Connection, type TargetOptions } from "./client.js";
import { parseEndpoint, type Endpoint } from "./cp.js";
import { UsageError } from "./errors.js";
import { REMOTE_SYNTAX } from "./remote-path.js";
import { createProgress, type Progress } from "./progress.js";
import { action, type Io } from "./run.js";
import { count, humanSize } from "./units.js";

export interface SyncCliOptions extends TargetOptions {
  paths: string[];
  dryRun: boolean;
  delete: boolean;
  checksum: boolean;
  verbose: boolean;
  json: boolean;
  progress: boolean;
  jobs?: string;
}

export interface ResolvedSync {
  source: SyncEndpoint;
  destination: SyncEndpoint;
  dryRun: boolean;
  delete: boolean;
  checksum: boolean;
  verbose: boolean;
  json: boolean;
  progress: boolean;
  jobs: number;
}

const MAX_JOBS = 32;

const toSyncEndpoint = (e: Endpoint): SyncEndpoint =>
  e.kind === "local"
    ? { local: e.path }
    : { remote: { container: { ...e.remote.container, container: e.remote.container.container || undefined }, path: e.remote.path } };

export function validateSync(o: SyncCliOptions): ResolvedSync {
  if (o.paths.length !== 2) throw new UsageError("sync takes a source and a destination: podfiles sync SRC DST");
  const [source, destination] = o.paths.map((p) => parseEndpoint(p, o)) as [Endpoint, Endpoint];
  if (source.kind === "local" && destination.kind === "local")
    throw new UsageError(`sync needs a remote side (${REMOTE_SYNTAX}); for two local trees use rsync`);
  const jobs = count(o.jobs, "-j", 4);
  if (jobs < 1 || jobs > MAX_JOBS) throw new UsageError(`-j takes 1 to ${MAX_JOBS} transfers at a time`);
  return {
    source: toSyncEndpoint(source),
    destination: toSyncEndpoint(destination),
    dryRun: o.dryRun,
    delete: o.delete,
    checksum: o.checksum,
    verbose: o.verbose,
    json: o.json,
    progress: o.progress,
    jobs,
  };
}

const MARK: Record<SyncAction["kind"], string> = { create: "+", update: "~", mkdir: "d", delete: "-" };

function actionLine(a: SyncAction): string {
  const path = a.path || ".";
  if (a.kind === "mkdir") return `d ${path}/`;
  if (a.kind === "delete") return `- ${path}`;
  return `${MARK[a.kind]} ${path} (${humanSize(BigInt(a.size ?? 0))}${a.kind === "update" ? `, ${a.reason}` : ""})`;
}

function summary(r: SyncReport, seconds: number): string {
  const verb = r.dryRun ? "would send" : "sent";
  return (
    `${verb} ${r.created + r.updated} file(s) (${r.created} new, ${r.updated} changed, ${humanSize(BigInt(r.bytes))}), ` +
    `${r.directories} director${r.directories === 1 ? "y" : "ies"} made, ${r.deleted} removed, ${r.unchanged} unchanged` +
    `${r.skipped.length ? `, ${r.skipped.length} skipped` : ""} in ${seconds.toFixed(2)} s${r.dryRun ? " (dry run: nothing changed)" : ""}`
  );
}

export async function runSync(o: ResolvedSync, { client }: Connection, io: Io): Promise<void> {
  const started = performance.now();
  const show = o.verbose || o.dryRun;
  // a bar of the bytes to send, on a terminal only (never with --json, -v or a dry run: lines go there)
  let progress: Progress | undefined;
  let sent = 0;
  let report: SyncReport;
  try {
    report = await client.sync(o.source, o.destination, {
      checksum: o.checksum,
      delete: o.delete,
      dryRun: o.dryRun,
      concurrency: o.jobs,
      onPlan: (p) => {
        if (!o.json && !show && p.files > 0) progress = createProgress(`sync ${p.files} file(s)`, p.bytes, { enabled: o.progress });
      },
      onAction: (a) => {
        if (o.json) io.out.write(`${JSON.stringify({ action: a.kind, path: a.path, size: a.size, reason: a.reason })}\n`);
        else if (show) io.out.write(`${actionLine(a)}\n`);
        sent += a.size ?? 0;
        progress?.set(sent);
      },
    });
  } finally {
    progress?.stop();
  }
  for (const s of report.skipped) io.err.write(`podfiles: skipped ${s.path || "."}: ${s.reason}\n`);
  for (const f of report.failed) io.err.write(`podfiles: ${f.path || "."}: [${Code[f.code] ?? f.code}] ${f.message}\n`);
  const seconds = (performance.now() - started) / 1000;
  if (o.json) {
    const { skipped, failed, ...counts } = report;
    io.out.write(`${JSON.stringify({ ...counts, skipped: skipped.length, failed: failed.length, seconds: Number(seconds.toFixed(3)) })}\n`);
  } else io.out.write(`${summary(report, seconds)}\n`);
  if (report.failed.length > 0) {
    throw new PodfilesError(`${report.failed.length} action(s) failed (listed above); the rest were done`, report.failed[0]!.code);
  }
}

export function registerSync(program: Command): void {
  const cmd = program
    .command("sync")
    .description("make DST a mirror of SRC (local ↔ pod, pod ↔ pod), sending only files that changed")
    .argument("<paths...>", `SRC DST: local paths or ${REMOTE_SYNTAX}; a directory's contents go into DST itself (as rsync SRC/ DST)`)
    .option("--dry-run", "print what would be done, change nothing (-n is the namespace, as in kubectl)")
    .option("--delete", "remove from DST what SRC lacks (and replace entries of the wrong kind)")
    .option("--checksum", "compare SHA-256 (computed by the agent for remote files) instead of size and modification time (-c is the container)")
    .option("-j, --jobs <n>", "transfers at a time (default 4)")
    .option("-v, --verbose", "print each action (+ new, ~ changed, d directory, - removed)")
    .option("--json", "print each action and the totals as JSON lines")
    .option("--no-progress", "no progress bar (it shows only when stderr is a terminal)");
  addTargetOptions(cmd).action(
    action(
      (paths, opts) =>
        ({
          ...opts,
          paths,
          dryRun: !!opts.dryRun,
          delete: !!opts.delete,
          checksum: !!opts.checksum,
          verbose: !!opts.verbose,
          json: !!opts.json,
          progress: opts.progress !== false,
        }) as SyncCliOptions,
      validateSync,
      runSync,
    ),
  );
}
