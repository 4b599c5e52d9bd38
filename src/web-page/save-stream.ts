// A file saved by the browser while it downloads (through save-worker.ts), instead of a Blob
// assembled in full first and saved after (two more copies of every byte: into Blob storage, and
// from there into the file). Where no service worker can run (no secure context, a browser or
// a policy refusing it) or the worker does not answer in time, openSaveStream answers undefined
// and the caller keeps its Blob.
//
// Integrity: the page pipes the SDK's verified stream into the writable end, which closes only
// once the trailer's length and digest were checked. A failed check aborts it instead: the browser
// marks the download failed and never gives the partial file its name (test/web/page.spec.ts).

/** how long the worker may take to answer a save's navigation before the page falls back to a Blob */
const ANSWER_TIMEOUT_MS = 10_000;
/**
 * A message to the worker this often while a save runs. Chromium 156 needs none: it kept the worker
 * through a 424 s save without them (1.1 GiB from a server throttled to 0.65% of a CPU, 2026-12-01).
 * Kept for browsers that stop a worker idle for 30 s while its answer still streams (not tested here).
 */
const KEEP_ALIVE_MS = 10_000;
/** the hidden frame stays until the browser surely holds the download (removing it earlier may cancel the navigation) */
const FRAME_LINGER_MS = 60_000;

let worker: Promise<ServiceWorker | undefined> | undefined;

/** Registers the save worker once (scope ./save/ beside the page); undefined where none can run. */
export function saveWorker(): Promise<ServiceWorker | undefined> {
  worker ??= (async () => {
    if (!isSecureContext || !("serviceWorker" in navigator)) return undefined;
    try {
      const base = document.baseURI;
      const reg = await navigator.serviceWorker.register(new URL("./save-worker.js", base), { scope: new URL("./save/", base).pathname });
      return await activeWorker(reg);
    } catch {
      return undefined;
    }
  })();
  return worker;
}

/** navigator.serviceWorker.ready never settles here: the page is outside the worker's scope */
function activeWorker(reg: ServiceWorkerRegistration): Promise<ServiceWorker | undefined> {
  if (reg.active) return Promise.resolve(reg.active);
  const pending = reg.installing ?? reg.waiting;
  if (!pending) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ANSWER_TIMEOUT_MS);
    pending.addEventListener("statechange", () => {
      if (pending.state === "activated") resolve(pending);
      else if (pending.state === "redundant") resolve(reg.active ?? undefined);
      else return;
      clearTimeout(timer);
    });
  });
}

export interface SaveStream {
  /** the file's bytes, in order; abort it to make the browser drop the partial file */
  writable: WritableStream<Uint8Array>;
  /** stops the keep-alive and, later, removes the frame: call once the writable closed or aborted */
  release(): void;
}

/**
 * Starts a browser download named `name` (`size` bytes when known: the browser then shows its
 * progress and treats a short file as failed) whose bytes the caller writes. Undefined when the
 * browser cannot save this way: nothing was started then.
 */
export async function openSaveStream(name: string, size?: number): Promise<SaveStream | undefined> {
  const sw = await saveWorker();
  if (!sw) return undefined;
  const id = crypto.randomUUID();
  const channel = new MessageChannel();
  // the worker's two messages, in turn: the announcement acknowledged, then (once the frame asked)
  // the writable; one deadline for both
  let acknowledge!: (ok: boolean) => void;
  let answer!: (writable: WritableStream<Uint8Array> | undefined) => void;
  const acknowledged = new Promise<boolean>((resolve) => (acknowledge = resolve));
  const answered = new Promise<WritableStream<Uint8Array> | undefined>((resolve) => (answer = resolve));
  const timer = setTimeout(() => {
    acknowledge(false);
    answer(undefined);
  }, ANSWER_TIMEOUT_MS);
  channel.port1.onmessage = (e: MessageEvent<{ announced?: string; writable?: WritableStream<Uint8Array> }>) => {
    if (e.data?.announced === id) return acknowledge(true);
    acknowledge(false); // anything else first is no acknowledgement
    clearTimeout(timer);
    answer(e.data?.writable);
  };
  sw.postMessage({ type: "save", id, name, size }, [channel.port2]);
  // the frame asks only once the worker holds the announcement: a message and a navigation take
  // different paths to the worker, and a navigation that came first found none (page.spec: 1 run in ~15)
  if (!(await acknowledged)) {
    clearTimeout(timer);
    channel.port1.close();
    return undefined;
  }
  const frame = document.createElement("iframe");
  frame.hidden = true;
  frame.src = new URL(`./save/${id}`, document.baseURI).href;
  document.body.append(frame);
  const writable = await answered;
  channel.port1.close();
  if (!writable) {
    frame.remove();
    return undefined;
  }
  const keepAlive = setInterval(() => sw.postMessage("keep-alive"), KEEP_ALIVE_MS);
  return {
    writable,
    release() {
      clearInterval(keepAlive);
      setTimeout(() => frame.remove(), FRAME_LINGER_MS);
    },
  };
}
