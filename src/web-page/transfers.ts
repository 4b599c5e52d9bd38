// The transfer queue: uploads (the SDK's chunked, resumable upload) and downloads (the SDK's
// verified download stream), each with progress, speed, ETA and cancel. An upload's session id is
// kept in sessionStorage as soon as it exists, so after a reload (or a dropped connection) the same
// file, dropped or picked again, continues where the server's QueryUpload says it stopped instead of
// starting over. The SHA-256 the server checks is computed by the SDK while the chunks are sent.
import { Code, PodfilesError, type ContainerRef, type PodfilesWebClient } from "../web.js";
import { describeError, formatBytes, formatDuration } from "./format.js";
import { openSaveStream } from "./save-stream.js";

const STORE_KEY = "podfiles.uploads";
/** 4 MiB per WriteUploadChunk, the server's largest chunk: 1 MiB calls spent more time in round trips than in bytes */
const CHUNK = 4 * 1024 * 1024;
const PARALLEL_UPLOADS = 2;
/** failures after which the server's session may still be there: the upload is kept to resume */
const RESUMABLE = new Set(["UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "UNKNOWN", "INTERNAL", "CANCELLED", "DATA_LOSS"]);
let unloading = false;
addEventListener("pagehide", () => (unloading = true));
addEventListener("beforeunload", () => (unloading = true));
/** a download's bytes are handed to a Blob every this many bytes (Chromium keeps big Blobs out of the JS heap, on disk) */
const BLOB_FLUSH = 64 * 1024 * 1024;

/** Where the browser cannot save a stream (save-stream.ts): the verified bytes as a Blob, saved once all are checked. */
async function saveAsBlob(stream: AsyncIterable<Uint8Array>, saveAs: string): Promise<void> {
  let blob = new Blob([]);
  let parts: Uint8Array<ArrayBuffer>[] = [];
  let pending = 0;
  for await (const chunk of stream) {
    parts.push(chunk as Uint8Array<ArrayBuffer>);
    pending += chunk.length;
    if (pending >= BLOB_FLUSH) {
      blob = new Blob([blob, ...parts]);
      parts = [];
      pending = 0;
    }
  }
  blob = new Blob([blob, ...parts], { type: "application/octet-stream" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = saveAs;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

interface StoredUpload {
  key: string;
  name: string;
  path: string;
  container: ContainerRef;
  size: number;
  lastModified: number;
  /** kept by pages from before the digest went with CommitUpload */
  sha256?: string;
  uploadId?: string;
}

const keyOf = (c: ContainerRef, path: string, f: File) => JSON.stringify([c.namespace, c.pod, c.container ?? "", path, f.size, f.lastModified]);

function loadStore(): StoredUpload[] {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY) ?? "[]") as StoredUpload[];
  } catch {
    return [];
  }
}
function saveStore(list: StoredUpload[]): void {
  sessionStorage.setItem(STORE_KEY, JSON.stringify(list));
}
function putStored(rec: StoredUpload): void {
  saveStore([...loadStore().filter((r) => r.key !== rec.key), rec]);
}
function dropStored(key: string): void {
  saveStore(loadStore().filter((r) => r.key !== key));
}

/** One line of the queue: a title, a progress bar, a line of figures, and its buttons. */
class QueueItem {
  readonly li = document.createElement("li");
  private readonly bar = document.createElement("progress");
  private readonly stats = document.createElement("div");
  private readonly buttons = document.createElement("span");
  private startedAt = 0;
  private speed = 0;
  private lastAt = 0;
  private lastBytes = 0;

  constructor(kind: "upload" | "download", name: string, title: string) {
    this.li.dataset.kind = kind;
    this.li.dataset.name = name;
    const head = document.createElement("div");
    head.className = "title";
    const label = document.createElement("span");
    label.textContent = `${kind === "upload" ? "⬆" : "⬇"} ${name}`;
    label.title = title;
    head.append(label, this.buttons);
    this.stats.className = "stats";
    this.bar.max = 1;
    this.bar.value = 0;
    this.li.append(head, this.bar, this.stats);
  }

  button(text: string, onClick: () => void): HTMLButtonElement {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = text;
    b.addEventListener("click", onClick);
    this.buttons.append(b);
    return b;
  }

  clearButtons(): void {
    this.buttons.replaceChildren();
  }

  state(state: string, text: string): void {
    this.li.className = state;
    this.li.dataset.state = state;
    this.stats.textContent = text;
  }

  /** bytes of total moved since start(); speed is an average over the last seconds */
  progress(bytes: number, total: number | undefined, prefix = ""): void {
    const now = performance.now();
    if (!this.startedAt) this.startedAt = this.lastAt = now;
    if (now - this.lastAt >= 250) {
      const inst = ((bytes - this.lastBytes) * 1000) / (now - this.lastAt);
      this.speed = this.speed ? 0.7 * this.speed + 0.3 * inst : inst;
      this.lastAt = now;
      this.lastBytes = bytes;
    }
    this.bar.max = total ?? 0;
    if (total) this.bar.value = bytes;
    else this.bar.removeAttribute("value");
    const eta = total && this.speed > 0 ? ` · ${formatDuration((total - bytes) / this.speed)} left` : "";
    const speed = this.speed > 0 ? ` · ${formatBytes(this.speed)}/s` : "";
    this.li.dataset.bytes = String(bytes);
    this.state("running", `${prefix}${formatBytes(bytes)}${total ? ` of ${formatBytes(total)} (${Math.floor((100 * bytes) / total)} %)` : ""}${speed}${eta}`);
  }

  restart(): void {
    this.startedAt = this.speed = this.lastBytes = 0;
  }

  elapsedSeconds(): number {
    return this.startedAt ? (performance.now() - this.startedAt) / 1000 : 0;
  }
}

export interface UploadRequest {
  file: File;
  /** absolute path of the new file in the container */
  path: string;
  overwrite?: boolean;
}

interface Job extends UploadRequest {
  item: QueueItem;
  container: ContainerRef;
  controller: AbortController;
}

export class Transfers {
  private readonly waiting: Job[] = [];
  private running = 0;

  constructor(
    private readonly list: HTMLElement,
    private readonly interrupted: HTMLElement,
    private readonly client: () => PodfilesWebClient,
    private readonly container: () => ContainerRef,
    private readonly onUploaded: (path: string) => void,
  ) {}

  upload(requests: UploadRequest[]): void {
    const container = this.container();
    for (const r of requests) {
      const item = new QueueItem("upload", r.file.name, r.path);
      const job: Job = { ...r, item, container, controller: new AbortController() };
      item.state("queued", `queued · ${formatBytes(r.file.size)}`);
      item.button("Cancel", () => job.controller.abort());
      this.list.prepend(item.li);
      this.waiting.push(job);
    }
    this.pump();
    this.showInterrupted();
  }

  private pump(): void {
    while (this.running < PARALLEL_UPLOADS && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.running++;
      void this.runUpload(job).finally(() => {
        this.running--;
        this.pump();
        this.showInterrupted();
      });
    }
  }

  private async runUpload(job: Job): Promise<void> {
    const { file, path, item, container, controller } = job;
    const signal = controller.signal;
    const key = keyOf(container, path, file);
    const client = this.client();
    try {
      if (signal.aborted) throw new PodfilesError("cancelled before it started", Code.Canceled);
      let stored = loadStore().find((r) => r.key === key);
      if (!stored) {
        // no SHA-256 pass first: the SDK hashes each chunk while it is sent and gives the digest with
        // CommitUpload (a resumed upload hashes the part already sent again, from the file)
        stored = { key, name: file.name, path, container, size: file.size, lastModified: file.lastModified };
        putStored(stored);
      }
      const rec = stored;
      let resumedFrom = 0;
      const options = {
        chunkSize: CHUNK,
        sha256: rec.sha256,
        signal,
        overwrite: job.overwrite ? ("overwrite" as const) : ("fail" as const),
        makeParents: true,
        onSession: (uploadId: string) => putStored({ ...rec, uploadId }),
        onProgress: (p: { bytes: number; total?: number }) =>
          item.progress(resumedFrom + p.bytes, file.size, resumedFrom ? `resumed at ${formatBytes(resumedFrom)} · ` : ""),
      };
      item.restart();
      item.state("running", "starting…");
      let result;
      if (rec.uploadId) {
        try {
          resumedFrom = Number(
            (await client.rpc.queryUpload({ container: { ...container, container: container.container ?? "" }, path, uploadId: rec.uploadId })).committedSize,
          );
          item.li.dataset.resumedFrom = String(resumedFrom);
          item.state("running", `resuming at ${formatBytes(resumedFrom)} of ${formatBytes(file.size)}…`);
          result = await client.upload(file, path, { ...options, uploadId: rec.uploadId });
        } catch (err) {
          // the session is gone (expired, or the server restarted): start again from byte 0
          if (PodfilesError.from(err).code !== Code.NotFound) throw err;
          resumedFrom = 0;
          delete item.li.dataset.resumedFrom;
          result = await client.upload(file, path, options);
        }
      } else {
        result = await client.upload(file, path, options);
      }
      dropStored(key);
      const secs = item.elapsedSeconds();
      item.clearButtons();
      item.state(
        "done",
        `uploaded ${formatBytes(file.size)}${secs ? ` in ${secs.toFixed(1)} s (${formatBytes(result.bytes / secs)}/s)` : ""} · SHA-256 ${result.sha256.slice(0, 12)}… checked by the server`,
      );
      this.onUploaded(path);
    } catch (err) {
      // a reload or a closed tab cancels the calls in flight: keep the session for the next page
      if (unloading) return;
      const { code, text } = describeError(err);
      item.clearButtons();
      if (signal.aborted) {
        const rec = loadStore().find((r) => r.key === key);
        dropStored(key);
        if (rec?.uploadId)
          void client.rpc
            .abortUpload({ container: { ...container, container: container.container ?? "" }, path, uploadId: rec.uploadId })
            .catch(() => undefined);
        item.state("cancelled", "cancelled");
        return;
      }
      item.state("failed", text);
      item.li.dataset.code = code;
      if (RESUMABLE.has(code)) {
        item.button("Retry", () => (item.li.remove(), this.upload([{ file, path, overwrite: job.overwrite }])));
        return;
      }
      dropStored(key);
      if (code === "ALREADY_EXISTS") item.button("Replace", () => (item.li.remove(), this.upload([{ file, path, overwrite: true }])));
    }
  }

  /** Uploads a reload interrupted, with a way to discard them; re-adding the file resumes. */
  showInterrupted(): void {
    const running = new Set<string>();
    for (const li of this.list.querySelectorAll<HTMLElement>('li[data-state="running"], li[data-state="queued"]')) running.add(li.dataset.name ?? "");
    const stale = loadStore().filter((r) => !running.has(r.name));
    this.interrupted.hidden = stale.length === 0;
    this.interrupted.replaceChildren();
    if (stale.length === 0) return;
    const title = document.createElement("div");
    title.textContent = "Interrupted uploads — drop or pick the same file again to resume:";
    this.interrupted.append(title);
    for (const r of stale) {
      const line = document.createElement("div");
      line.dataset.name = r.name;
      line.textContent = `${r.name} → ${r.path} (${formatBytes(r.size)}) `;
      const discard = document.createElement("button");
      discard.type = "button";
      discard.textContent = "Discard";
      discard.addEventListener("click", () => {
        dropStored(r.key);
        if (r.uploadId)
          void this.client()
            .rpc.abortUpload({ container: { ...r.container, container: r.container.container ?? "" }, path: r.path, uploadId: r.uploadId })
            .catch(() => undefined);
        this.showInterrupted();
      });
      line.append(discard);
      this.interrupted.append(line);
    }
  }

  /**
   * A file (or a directory, as a tar stream), saved by the browser as it arrives (save-stream.ts) or,
   * where that cannot run, as a Blob once checked: either way the browser keeps it only if its
   * length and the server's SHA-256 matched.
   */
  async download(path: string, name: string, isDir: boolean): Promise<void> {
    const saveAs = isDir ? `${name || "root"}.tar` : name;
    const item = new QueueItem("download", saveAs, path);
    this.list.prepend(item.li);
    const stream = this.client().download(path, { onProgress: (p) => item.progress(p.bytes, p.total) });
    item.button("Cancel", () => void stream.cancel());
    item.state("running", "starting…");
    try {
      const info = await stream.info();
      const save = await openSaveStream(saveAs, info.length);
      item.li.dataset.saved = save ? "stream" : "blob";
      if (save) {
        try {
          await stream.toWebStream().pipeTo(save.writable);
        } catch (err) {
          if (err instanceof PodfilesError) throw err;
          // the browser ended the save (its download cancelled: no reason given) and the pipe stopped the call
          const why = err instanceof Error ? `: ${err.message}` : " (its download was cancelled)";
          throw new PodfilesError(`the browser stopped saving ${saveAs}${why}`, Code.Canceled);
        } finally {
          save.release();
        }
      } else await saveAsBlob(stream, saveAs);
      const verified = stream.verified!;
      const secs = item.elapsedSeconds();
      item.clearButtons();
      item.li.dataset.sha256 = verified.sha256;
      item.state(
        "done",
        `${formatBytes(verified.bytes)}${secs ? ` in ${secs.toFixed(1)} s (${formatBytes(verified.bytes / secs)}/s)` : ""} · SHA-256 verified ${verified.sha256.slice(0, 12)}…`,
      );
    } catch (err) {
      item.clearButtons();
      const { code, text } = describeError(err);
      item.li.dataset.code = code;
      item.state(code === "CANCELLED" ? "cancelled" : "failed", code === "CANCELLED" ? "cancelled" : text);
    }
  }
}
