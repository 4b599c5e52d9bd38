// The page's service worker (registered by save-stream.ts with the scope /save/ only, so none of
// the page's own requests pass through it): it turns a download the page streams into a file the
// browser saves as the bytes arrive, instead of a Blob assembled first and saved after. The page
// announces a save (its id, name and size, and a MessagePort), waits for this worker to acknowledge
// it, then navigates a hidden frame to /save/<id>; this worker answers that navigation with a
// streamed `attachment` whose body is the readable end of a TransformStream, and hands the writable
// end back over the port. Whatever the page writes goes to the browser's download; when the page
// aborts (a digest mismatch, a cancel) the download fails and the browser never gives the partial
// file its name. A /save/ URL nobody announced is left to the network (the server answers 404).
// Announcements live in memory only: a worker the browser restarted forgets them, and the page,
// never given its writable, falls back to a Blob.
import { contentDisposition } from "../content-disposition.js";

interface Announcement {
  type: "save";
  id: string;
  name: string;
  size?: number;
}

interface SaveWorkerScope {
  registration: { scope: string };
  skipWaiting(): Promise<void>;
  addEventListener(type: "install", fn: () => void): void;
  addEventListener(type: "message", fn: (e: { data: unknown; ports: readonly MessagePort[] }) => void): void;
  addEventListener(type: "fetch", fn: (e: { request: Request; respondWith(r: Response): void }) => void): void;
}

const scope = self as unknown as SaveWorkerScope;
/** announced saves whose frame has not asked yet; a page that never navigates leaves at most this many */
const waiting = new Map<string, { announcement: Announcement; port: MessagePort }>();
const MAX_WAITING = 64;

scope.addEventListener("install", () => void scope.skipWaiting());

scope.addEventListener("message", (e) => {
  const a = e.data as Announcement | undefined;
  // anything else (the page's keep-alive while it writes) only has to arrive: it extends this worker's life
  if (a?.type !== "save" || typeof a.id !== "string" || typeof a.name !== "string" || !e.ports[0]) return;
  if (waiting.size >= MAX_WAITING) waiting.delete(waiting.keys().next().value!);
  waiting.set(a.id, { announcement: a, port: e.ports[0] });
  // the page navigates its frame only after this: a message and a navigation take different paths to
  // this worker, and a navigation that came first found no announcement (1 run in ~15 of page.spec)
  e.ports[0].postMessage({ announced: a.id });
});

scope.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  const prefix = new URL(scope.registration.scope).pathname;
  if (e.request.method !== "GET" || !url.pathname.startsWith(prefix)) return;
  const entry = waiting.get(url.pathname.slice(prefix.length));
  if (!entry) return;
  waiting.delete(entry.announcement.id);
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  entry.port.postMessage({ writable }, [writable as unknown as Transferable]);
  entry.port.close();
  const headers: Record<string, string> = {
    "Content-Type": "application/octet-stream",
    "Content-Disposition": contentDisposition(entry.announcement.name),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
  };
  if (entry.announcement.size !== undefined) headers["Content-Length"] = String(entry.announcement.size);
  e.respondWith(new Response(readable, { headers }));
});
