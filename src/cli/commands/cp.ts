// podfiles cp [-f] [-p] SRC... DST — kubectl cp's addressing ([namespace/]pod:path, -n, -c) with
// cp(1)'s rules: a directory is copied with everything below it; DST naming an existing directory
// (or ending with /) receives each source under its own name; several sources need such a DST.
//   local → pod    the SDK's upload (atomic, size and SHA-256 checked) or uploadDirectory (tar)
//   pod → local    downloadToFile (via NAME.part, checked, renamed) or downloadDirectory (tar)
//   pod → pod      pod-to-pod.ts (the Copy RPC, else streamed through this process)
// Remote sources may hold wildcards in their last component, matched on the server's listing
// (remote-glob.ts). An existing file is replaced only with -f, on either side.
import * as fs from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { posix } from "node:path";
import type { Command } from "commander";
import { FileType } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { Code, PodfilesError } from "../../client/errors.js";
import { addTargetOptions, type Connection, type PodfilesClient, type TargetOptions } from "./client.js";
import { UsageError } from "./errors.js";
import { checkLocalTarget } from "./get.js";
import { copyBetweenPods } from "../../client/pod-to-pod.js";
import { createProgress, type Progress } from "./progress.js";
import { expandRemote } from "./remote-glob.js";
import { REMOTE_SYNTAX, formatContainer, isRemote, parseRemote, remoteBasename, type RemotePath } from "./remote-path.js";
import { action, type Io } from "./run.js";
import { localTreeSize, remoteTreeSize } from "./tree-size.js";

export interface CpOptions extends TargetOptions {
  paths: string[];
  force: boolean;
  parents: boolean;
  progress: boolean;
  verbose: boolean;
}

export type Endpoint = { kind: "local"; path: string; arg: string } | { kind: "remote"; remote: RemotePath; arg: string };

export interface ResolvedCp extends CpOptions {
  sources: Endpoint[];
  dest: Endpoint;
}

/** kubectl's rule, plus: a path starting with / or . is local even with a colon in it. */
export function parseEndpoint(arg: string, o: TargetOptions): Endpoint {
  if (arg === "-") throw new UsageError("cp copies files: for stdin use put -, for stdout cat (or get REMOTE -)");
  if (arg.startsWith("/") || arg.startsWith(".") || !isRemote(arg)) return { kind: "local", path: arg, arg };
  return { kind: "remote", remote: parseRemote(arg, o), arg };
}

export function validateCp(o: CpOptions): ResolvedCp {
  if (o.paths.length < 2) throw new UsageError("cp needs a source and a destination: podfiles cp SRC... DST");
  const all = o.paths.map((p) => parseEndpoint(p, o));
  const dest = all.pop()!;
  const sources = all;
  if (dest.kind === "local" && sources.every((s) => s.kind === "local"))
    throw new UsageError(`cp needs a remote side (${REMOTE_SYNTAX}); for two local paths use cp(1)`);
  for (const s of sources) {
    if (s.kind !== "local") continue;
    const st = fs.statSync(s.path, { throwIfNoEntry: false });
    if (!st) throw new UsageError(`${s.path}: no such local file or directory`);
    if (!st.isFile() && !st.isDirectory()) throw new UsageError(`${s.path}: not a regular file or a directory`);
    if (dest.kind === "local") throw new UsageError(`${s.path} → ${dest.path}: both local; use cp(1)`);
  }
  return { ...o, sources, dest };
}

type Kind = "file" | "directory" | "missing";

async function remoteKind(client: PodfilesClient, r: RemotePath): Promise<Kind> {
  try {
    const e = await client.stat(r, { followSymlinks: true });
    return e.type === FileType.DIRECTORY ? "directory" : "file";
  } catch (err) {
    if (err instanceof PodfilesError && err.code === Code.NotFound) return "missing";
    throw err;
  }
}

function localKind(path: string): Kind {
  const st = fs.statSync(path, { throwIfNoEntry: false });
  return !st ? "missing" : st.isDirectory() ? "directory" : "file";
}

const endpointKind = (client: PodfilesClient, e: Endpoint): Promise<Kind> | Kind => (e.kind === "local" ? localKind(e.path) : remoteKind(client, e.remote));

const nameOf = (e: Endpoint) => (e.kind === "local" ? basename(resolve(e.path)) : remoteBasename(e.remote.path) || "root");

function inside(dest: Endpoint, name: string): Endpoint {
  return dest.kind === "local"
    ? { ...dest, path: join(dest.path, name) }
    : { ...dest, remote: { container: dest.remote.container, path: posix.join(dest.remote.path, name) } };
}

const show = (e: Endpoint) => (e.kind === "local" ? e.path : `${formatContainer(e.remote.container)}:${e.remote.path}`);

export async function runCp(o: ResolvedCp, { client }: Connection, io: Io): Promise<void> {
  const sources: Endpoint[] = [];
  for (const s of o.sources) {
    if (s.kind === "local") sources.push(s);
    else for (const remote of await expandRemote(client, s.remote)) sources.push({ kind: "remote", remote, arg: s.arg });
  }
  const dest = o.dest;
  const destPath = dest.kind === "local" ? dest.path : dest.remote.path;
  let destKind = await endpointKind(client, dest);
  if (destKind === "missing" && destPath.endsWith("/")) {
    if (!o.parents) throw new PodfilesError(`${show(dest)}: no such directory (-p creates it)`, Code.NotFound);
    if (dest.kind === "local") fs.mkdirSync(dest.path, { recursive: true });
    else await client.mkdir(dest.remote, { parents: true });
    destKind = "directory";
  }
  if (sources.length > 1 && destKind !== "directory")
    throw new PodfilesError(`${show(dest)}: not a directory (several sources go into an existing directory)`, Code.FailedPrecondition);
  if (destKind === "file" && destPath.endsWith("/")) throw new PodfilesError(`${show(dest)}: not a directory`, Code.FailedPrecondition);
  for (const source of sources) {
    const target = destKind === "directory" ? inside(dest, nameOf(source)) : dest;
    await copyOne(o, client, source, target, io);
  }
}

const remoteSize = async (client: PodfilesClient, r: RemotePath) => Number((await client.stat(r, { followSymlinks: true })).size);

const showBar = (o: ResolvedCp) => o.progress && !!process.stderr.isTTY;

async function copyOne(o: ResolvedCp, client: PodfilesClient, from: Endpoint, to: Endpoint, io: Io): Promise<void> {
  const warn = (m: string) => io.err.write(`podfiles: ${m}\n`);
  const fromKind = await endpointKind(client, from);
  const label = nameOf(from);
  const bar = async (tree: boolean, size: () => Promise<number | undefined>): Promise<Progress> =>
    createProgress(tree ? `${label}/` : label, showBar(o) ? await size() : undefined, { enabled: o.progress });
  let progress: Progress | undefined;
  let summary = "";
  try {
    if (from.kind === "local" && to.kind === "remote") {
      if (fromKind === "directory") {
        progress = await bar(true, () => localTreeSize(from.path));
        const r = await client.uploadDirectory(from.path, to.remote, { makeParents: o.parents, warn, onProgress: (p) => progress!.set(p.bytes) });
        summary = `${r.entries ?? 0} entries`;
      } else {
        const size = fs.statSync(from.path).size;
        progress = createProgress(label, size, { enabled: o.progress });
        const r = await client.upload(from.path, to.remote, {
          overwrite: o.force ? "overwrite" : "fail",
          makeParents: o.parents,
          mode: fs.statSync(from.path).mode & 0o777,
          onProgress: (p) => progress!.set(p.bytes),
        });
        summary = `${r.bytes} bytes, sha256 ${r.sha256}`;
      }
    } else if (from.kind === "remote" && to.kind === "local") {
      if (o.parents) fs.mkdirSync(dirname(to.path), { recursive: true });
      if (fromKind === "directory") {
        checkLocalTarget(to.path, "directory", o);
        progress = await bar(true, () => remoteTreeSize(client, from.remote));
        const r = await client.downloadDirectory(from.remote, to.path, { warn, onProgress: (p) => progress!.set(p.bytes) });
        summary = `${r.entries} entries`;
      } else {
        checkLocalTarget(to.path, "file", o);
        progress = await bar(false, () => remoteSize(client, from.remote));
        const r = await client.downloadToFile(from.remote, to.path, { onProgress: (p) => progress!.set(p.bytes) });
        summary = `${r.size} bytes, sha256 ${r.sha256}`;
      }
    } else if (from.kind === "remote" && to.kind === "remote") {
      const tree = fromKind === "directory";
      progress = await bar(tree, () => (tree ? remoteTreeSize(client, from.remote) : remoteSize(client, from.remote)));
      const r = await copyBetweenPods(client, from.remote, to.remote, {
        overwrite: o.force,
        makeParents: o.parents,
        onProgress: (p) => progress!.set(p.bytes),
      });
      summary = `${r.entries !== undefined ? `${r.entries} entries` : `${r.bytes} bytes`}, ${r.via === "copy" ? "Copy RPC" : "streamed"}${r.fallback ? ` (${r.fallback})` : ""}`;
    }
  } catch (err) {
    if (err instanceof PodfilesError && err.code === Code.NotFound && !o.parents && to.kind === "remote" && from.kind === "local")
      throw new PodfilesError(`${err.rawMessage} (is the parent directory missing? -p creates it)`, Code.NotFound);
    throw err;
  } finally {
    progress?.stop();
  }
  if (o.verbose) io.out.write(`${show(from)} → ${show(to)} (${summary})\n`);
}

export function registerCp(program: Command): void {
  const cmd = program
    .command("cp")
    .description("copy files and directories between local paths and containers, or between containers")
    .argument("<paths...>", `SRC... DST: local paths or ${REMOTE_SYNTAX}; remote SRC may hold * ? [..] in its last component`)
    .option("-f, --force", "replace existing files (remote or local; default: fail with ALREADY_EXISTS)")
    .option("-p, --parents", "create missing parent directories of DST (and DST itself when it ends with /)")
    .option("--no-progress", "no progress bar (it shows only when stderr is a terminal)")
    .option("-v, --verbose", "print each copy");
  addTargetOptions(cmd).action(
    action(
      (paths, opts) =>
        ({ ...opts, paths, force: !!opts.force, parents: !!opts.parents, progress: opts.progress !== false, verbose: !!opts.verbose }) as CpOptions,
      validateCp,
      runCp,
      { overwrite: "use -f to replace it" },
    ),
  );
}
