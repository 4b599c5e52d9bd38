// kube-finder's REST API (the seed system's; front ends were built against it), on FileService:
//   GET  /apis/v1/auth/token                                         Basic → {"token": JWT} (IssueToken)
//   GET  /apis/v1/namespaces/:ns/pods/:pod/containers/:c/files?subpath=
//          a directory: {"subpath", "files": [{name, size, mode, modtime, isdir, groupname, username, link}]}
//          a file: its bytes (Range: bytes=a-b answered with 206)
//   POST the same URL, multipart/form-data: each file part is written into the directory `subpath`
// Every call is a FileService/AuthService call through the server's own router (in-process-transport.ts):
// the same authentication, RBAC, confinement, atomic writes and audit log as gRPC and Connect.
// Not kube-finder's holes: uploads get 0644 (not 0777), tokens are the server's JWTs (no
// hard-coded key). The token goes in `Authorization: Bearer`; `?token=` (kube-finder's way) is
// accepted too, for the front ends that send it, and never logged. Errors: {"error": message, "code"}.
import { basename } from "node:path";
import type * as http from "node:http";
import type { FastPathRequest as Req, FastPathResponse as Res } from "./fast-path/wire-protocols.js";
import busboy from "busboy";
import { Code, ConnectError, createClient, type ConnectRouter, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { AuthService } from "../../gen/ts/podfiles/v1/auth_pb.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { FileService, FileType, OverwritePolicy, type FileEntry, type UploadRequestSchema } from "../../gen/ts/podfiles/v1/files_pb.js";
import { inProcessRouter } from "./in-process-transport.js";
import { contentDisposition } from "../content-disposition.js";

const write = (res: Res, chunk: string | Uint8Array): boolean => res.write(typeof chunk === "string" ? Buffer.from(chunk) : chunk);

export interface KubeFinderApiOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  contextValues: (req: Req) => ContextValues;
  readMaxBytes: number;
}

const FILES = /^\/apis\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/containers\/([^/]+)\/files\/?$/;
const TOKEN = "/apis/v1/auth/token";
/** bytes per upload message: the server's own download chunk size */
const UPLOAD_CHUNK = 1024 * 1024;
/** at most this many files per POST (kube-finder takes one) and small text fields only */
const MULTIPART_LIMITS = { files: 64, fields: 16, fieldSize: 64 * 1024, parts: 96, headerPairs: 64 };

/** The container a kube-finder files URL names (the forward route sends it to that pod's agent), else undefined. */
export function kubeFinderTarget(url: string | undefined): { namespace: string; pod: string; container: string } | undefined {
  const m = FILES.exec(new URL(url ?? "/", "http://x").pathname);
  if (!m) return undefined;
  try {
    const [namespace, pod, container] = m.slice(1).map((s) => decodeURIComponent(s!)) as [string, string, string];
    return { namespace, pod, container };
  } catch {
    return undefined; // a malformed escape: served here, which answers it
  }
}

/** The token kube-finder callers send: Authorization: Bearer, else ?token= (kube-finder's way). */
export function kubeFinderAuthorization(req: Req): string | null {
  const t = bearer(req, new URL(req.url ?? "/", "http://x"));
  return t ? `Bearer ${t}` : null;
}

/** A handler: false when the request is not for this API (the caller passes it on). */
export function kubeFinderApi(o: KubeFinderApiOptions): (req: Req, res: Res) => boolean {
  const router = inProcessRouter(o);
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (!url.pathname.startsWith("/apis/v1/")) return false;
    const gone = new AbortController();
    res.once("close", () => gone.abort());
    const transport = router.transport(o.contextValues(req));
    const run = async () => {
      if (url.pathname === TOKEN) {
        if (req.method !== "GET") throw new ConnectError(`${req.method} ${TOKEN}: use GET`, Code.Unimplemented);
        const auth = createClient(AuthService, transport);
        const r = await auth
          .issueToken({}, { headers: { authorization: String(req.headers.authorization ?? "") }, signal: gone.signal })
          .catch((err: unknown) => {
            // no AuthService on the router: the server runs without JWT auth
            if (ConnectError.from(err).code === Code.Unimplemented)
              throw new ConnectError("this server does not issue tokens (start it with --auth jwt, --jwt-key and --auth-clients)", Code.FailedPrecondition);
            throw err;
          });
        return json(res, 200, { token: r.token });
      }
      const m = FILES.exec(url.pathname);
      if (!m) throw new ConnectError(`${url.pathname}: no such API path`, Code.NotFound);
      const [namespace, pod, container] = m.slice(1).map((s) => decodeURIComponent(s!)) as [string, string, string];
      const subpath = url.searchParams.get("subpath") || "/";
      if (!subpath.startsWith("/")) throw new ConnectError(`subpath ${subpath}: must start with /`, Code.InvalidArgument);
      const token = bearer(req, url);
      const call: Call = { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: gone.signal };
      const files = createClient(FileService, transport);
      const target = { container: { namespace, pod, container }, path: subpath };
      if (req.method === "GET") {
        const st = (await files.stat({ ...target, followSymlinks: true }, call)).entry!;
        if (st.type === FileType.DIRECTORY) return listDirectory(files, target, subpath, call, res);
        return sendFile(files, target, st, req, res, call);
      }
      if (req.method === "POST") return upload(files, target, req, res, call);
      throw new ConnectError(`${req.method}: use GET or POST`, Code.Unimplemented);
    };
    run().catch((err: unknown) => {
      const e = ConnectError.from(err);
      if (res.headersSent) return void res.destroy();
      json(res, e.code === Code.Unimplemented ? 405 : codeToHttpStatus(e.code), { error: e.rawMessage, code: codeToString(e.code) });
    });
    return true;
  };
}

type Files = ReturnType<typeof createClient<typeof FileService>>;
type Target = { container: { namespace: string; pod: string; container: string }; path: string };
type Call = { headers: Record<string, string>; signal: AbortSignal };

function bearer(req: Req, url: URL): string | undefined {
  const h = req.headers.authorization;
  const m = typeof h === "string" ? /^Bearer[ \t]+(\S+)/i.exec(h) : null;
  return m?.[1] ?? url.searchParams.get("token") ?? undefined;
}

/** The listing as kube-finder shapes it, written as the entries stream (the first page decides the status). */
async function listDirectory(files: Files, target: Target, subpath: string, call: Call, res: Res): Promise<void> {
  let first = true;
  for await (const page of files.listFiles({ ...target, includeHidden: true }, call)) {
    let text = "";
    for (const e of page.entries) {
      text += (first ? "" : ",") + JSON.stringify(kubeFinderEntry(e));
      first = false;
    }
    if (!res.headersSent) {
      res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
      write(res, `{"subpath":${JSON.stringify(subpath)},"files":[`);
    }
    if (!write(res, text)) await drained(res, call.signal);
  }
  if (!res.headersSent) {
    res.writeHead(200, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
    write(res, `{"subpath":${JSON.stringify(subpath)},"files":[`);
  }
  res.end("]}\n");
}

export function kubeFinderEntry(e: FileEntry) {
  return {
    name: e.name,
    size: Number(e.size),
    mode: goFileMode(e.mode),
    modtime: rfc3339Nano(e.modifyTime?.seconds ?? 0n, e.modifyTime?.nanos ?? 0),
    isdir: e.type === FileType.DIRECTORY,
    groupname: e.group || String(e.gid),
    username: e.user || String(e.uid),
    link: e.symlinkTarget,
  };
}

/** st_mode as Go's fs.FileMode.String() prints it (kube-finder's "mode"): "dgrwxr-xr-x", "Lrwxrwxrwx". */
export function goFileMode(mode: number): string {
  const fmt = mode & 0o170000;
  let s = "";
  if (fmt === 0o040000) s += "d";
  if (fmt === 0o120000) s += "L";
  if (fmt === 0o060000 || fmt === 0o020000) s += "D";
  if (fmt === 0o010000) s += "p";
  if (fmt === 0o140000) s += "S";
  if (mode & 0o4000) s += "u";
  if (mode & 0o2000) s += "g";
  if (fmt === 0o020000) s += "c";
  if (mode & 0o1000) s += "t";
  if (s === "") s = "-";
  const rwx = "rwxrwxrwx";
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? rwx[i] : "-";
  return s;
}

/** Go's time.RFC3339Nano in UTC: "2022-06-13T07:12:24.612837757Z" (trailing zeros of the fraction dropped). */
export function rfc3339Nano(seconds: bigint, nanos: number): string {
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  const frac = nanos ? `.${String(nanos).padStart(9, "0").replace(/0+$/, "")}` : "";
  return `${base}${frac}Z`;
}

/** A file's bytes (one `Range: bytes=a-b` honoured), streamed from Download with backpressure. */
async function sendFile(files: Files, target: Target, st: FileEntry, req: Req, res: Res, call: Call): Promise<void> {
  if (st.type !== FileType.REGULAR && st.type !== FileType.SYMLINK)
    throw new ConnectError(`${target.path}: not a regular file or a directory`, Code.FailedPrecondition);
  const size = Number(st.size);
  let offset = 0;
  let length = size;
  let status = 200;
  const range = typeof req.headers.range === "string" ? /^bytes=(\d*)-(\d*)$/.exec(req.headers.range.trim()) : null;
  if (range && (range[1] || range[2])) {
    const [a, b] = [range[1] ? Number(range[1]) : undefined, range[2] ? Number(range[2]) : undefined];
    offset = a === undefined ? Math.max(0, size - b!) : a;
    const end = a === undefined ? size - 1 : Math.min(b ?? size - 1, size - 1);
    if (offset >= size || end < offset) {
      res.writeHead(416, { "Content-Range": `bytes */${size}`, "Content-Type": "application/json; charset=utf-8" });
      return void res.end(JSON.stringify({ error: `range ${req.headers.range} is outside the file (${size} bytes)`, code: "out_of_range" }) + "\n");
    }
    length = end - offset + 1;
    status = 206;
  }
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "Content-Disposition": contentDisposition(st.name),
    "Accept-Ranges": "bytes",
    "Cache-Control": "no-store",
  };
  if (status === 206) headers["Content-Range"] = `bytes ${offset}-${offset + length - 1}/${size}`;
  if (length === 0) {
    res.writeHead(status, { ...headers, "Content-Length": "0" });
    return void res.end();
  }
  for await (const m of files.download({ ...target, offset: BigInt(offset), length: BigInt(length) }, call)) {
    if (m.part.case === "header") {
      const n = m.part.value.length === undefined ? length : Number(m.part.value.length);
      res.writeHead(status, { ...headers, "Content-Length": String(n) });
    } else if (m.part.case === "data") {
      if (!write(res, m.part.value)) await drained(res, call.signal);
    } else if (m.part.case === "trailer") {
      res.end();
      return;
    }
  }
  res.destroy();
}

/** Each file part of the multipart body, streamed into Upload: written to a temp file, renamed over the target when complete. */
async function upload(files: Files, dir: Target, req: Req, res: Res, call: Call): Promise<void> {
  const type = String(req.headers["content-type"] ?? "");
  if (!/^multipart\/form-data/i.test(type))
    throw new ConnectError(`Content-Type ${type || "(none)"}: send multipart/form-data with a "file" part`, Code.InvalidArgument);
  // the directory must exist and be one (kube-finder's rule), and the caller must be allowed to see it
  const st = (await files.stat({ ...dir, followSymlinks: true }, call)).entry!;
  if (st.type !== FileType.DIRECTORY) throw new ConnectError(`subpath ${dir.path}: not a directory (uploads go into a directory)`, Code.FailedPrecondition);

  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers as http.IncomingHttpHeaders, limits: MULTIPART_LIMITS });
  } catch (err) {
    throw new ConnectError(`multipart body: ${(err as Error).message}`, Code.InvalidArgument);
  }
  const uploaded: { path: string; size: number; sha256: string }[] = [];
  let chain: Promise<void> = Promise.resolve();
  const done = new Promise<void>((resolve, reject) => {
    parser.on("file", (_field, stream, info) => {
      const name = basename(info.filename ?? "");
      if (!name || name === "." || name === ".." || name.includes("\0")) {
        stream.resume();
        return reject(new ConnectError(`file name ${JSON.stringify(info.filename)}: not a file name`, Code.InvalidArgument));
      }
      const path = `${dir.path.replace(/\/+$/, "")}/${name}`;
      // one file at a time: parts arrive in order and the next waits for this one's stream to end
      chain = chain.then(async () => {
        // kube-finder replaces an existing file; asking for OVERWRITE only then keeps a create-only scope able to add files
        const exists = await files.stat({ ...dir, path }, call).then(
          () => true,
          (err: unknown) => (ConnectError.from(err).code === Code.NotFound ? false : Promise.reject(err)),
        );
        const r = await files.upload(requests({ ...dir, path }, stream, exists), call);
        uploaded.push({ path, size: Number(r.bytesReceived), sha256: Buffer.from(r.sha256).toString("hex") });
      });
      chain.catch((err) => {
        stream.resume();
        reject(err);
      });
    });
    parser.on("filesLimit", () => reject(new ConnectError(`at most ${MULTIPART_LIMITS.files} files per request`, Code.InvalidArgument)));
    parser.on("error", (err) => reject(new ConnectError(`multipart body: ${(err as Error).message}`, Code.InvalidArgument)));
    parser.on("close", () => chain.then(resolve, reject));
  });
  // a body cut off mid-part: the file stream fails, so its Upload is aborted (temp file removed), never committed short
  res.once("close", () => {
    if (!res.writableFinished) parser.destroy(new Error("the request was cut off"));
  });
  (req as NodeJS.ReadableStream).pipe(parser);
  try {
    await done;
  } catch (err) {
    (req as NodeJS.ReadableStream).unpipe(parser);
    req.resume?.();
    throw err;
  }
  if (uploaded.length === 0) throw new ConnectError('no file in the form: send the file as a part named "file"', Code.InvalidArgument);
  json(res, 200, { message: uploaded.map((u) => `file ${u.path} uploaded successfully`).join("; "), files: uploaded });
}

async function* requests(target: Target, stream: NodeJS.ReadableStream, replace: boolean): AsyncGenerator<MessageInitShape<typeof UploadRequestSchema>> {
  yield { part: { case: "header", value: { ...target, options: { overwrite: replace ? OverwritePolicy.OVERWRITE : OverwritePolicy.FAIL } } } };
  let pending: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pending.push(chunk);
    size += chunk.length;
    if (size >= UPLOAD_CHUNK) {
      yield { part: { case: "data", value: Buffer.concat(pending, size) } };
      pending = [];
      size = 0;
    }
  }
  if (size > 0) yield { part: { case: "data", value: Buffer.concat(pending, size) } };
}

function drained(res: Res, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => (res.off("drain", done), signal.removeEventListener("abort", done), resolve());
    res.once("drain", done);
    signal.addEventListener("abort", done, { once: true });
  });
}

function json(res: Res, status: number, body: unknown): void {
  const text = JSON.stringify(body) + "\n";
  res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store", "Content-Length": String(Buffer.byteLength(text)) });
  res.end(text);
}
