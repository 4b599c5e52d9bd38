// The file browser page (src/web-page, built by Vite into dist/web-page) at `/`. Same origin as
// the API it calls, so the default CORS policy (same-origin only) already fits. Every answer
// carries a strict Content-Security-Policy: scripts, styles, calls and frames to this origin only,
// no inline code, no plugins. The SHA-256 worker's script alone may also compile WebAssembly
// (WORKER_CONTENT_SECURITY_POLICY: a dedicated worker runs under the policy of its own script's
// answer, not the page's), so the page itself still cannot. The service worker that saves
// downloads as they arrive (src/web-page/save-worker.ts, scope /save/) is served from a fixed name,
// /save-worker.js, revalidated like index.html (browsers look for a new one under that name); its
// frames are the page's hidden /save/<id> navigations. index.html is revalidated on every load
// (ETag); the hashed assets/ files never change under their name, so browsers keep them for a year.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import type { FastPathRequest as Req, FastPathResponse as Res } from "./fast-path/wire-protocols.js";
import { fileURLToPath } from "node:url";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "frame-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** The page's transfers hash in a worker (src/web-page/sha256-worker.ts) running hash-wasm's SHA-256. */
export const WORKER_CONTENT_SECURITY_POLICY = ["default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'"].join("; ");
const WORKER_ASSET = /^sha256-worker-[\w-]+\.js$/;
/** the save worker needs nothing but its own script: it fetches nothing, it answers with a stream */
export const SAVE_WORKER_CONTENT_SECURITY_POLICY = "default-src 'none'";
const SAVE_WORKER = "save-worker.js";

const SECURITY_HEADERS = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
  "X-Frame-Options": "DENY",
};

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
  cache: string;
  policy: string;
}

/** dist/web-page beside this module's dist/src/server (the package ships both). */
export const DEFAULT_PAGE_DIR = fileURLToPath(new URL("../../web-page/", import.meta.url));

/**
 * A request handler for the page: returns false for requests it does not serve (anything but a
 * GET or HEAD of `/`, `/index.html`, `/save-worker.js` or `/assets/<file>`), so the caller passes them on. The files are
 * read once (the page is ~160 KB); a missing build answers 404 with how to build it.
 */
export function staticPage(dir = DEFAULT_PAGE_DIR): (req: Req, res: Res) => boolean {
  const assets = new Map<string, Asset>();
  let missing: string | undefined;
  try {
    const index = readFileSync(`${dir}/index.html`);
    assets.set("/", asset(index, ".html", "no-cache"));
    assets.set("/index.html", assets.get("/")!);
    assets.set(`/${SAVE_WORKER}`, asset(readFileSync(`${dir}/${SAVE_WORKER}`), ".js", "no-cache", SAVE_WORKER_CONTENT_SECURITY_POLICY));
    for (const name of readdirSync(`${dir}/assets`)) {
      const ext = name.slice(name.lastIndexOf("."));
      if (!TYPES[ext]) continue;
      const policy = WORKER_ASSET.test(name) ? WORKER_CONTENT_SECURITY_POLICY : CONTENT_SECURITY_POLICY;
      assets.set(`/assets/${name}`, asset(readFileSync(`${dir}/assets/${name}`), ext, "public, max-age=31536000, immutable", policy));
    }
  } catch (err) {
    missing = `the web page is not built (${(err as Error).message}): run npm run build:web\n`;
  }

  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return false;
    const path = (req.url ?? "").split("?")[0]!;
    if (path !== "/" && path !== "/index.html" && path !== `/${SAVE_WORKER}` && !path.startsWith("/assets/")) return false;
    const a = assets.get(path);
    if (!a) {
      res.writeHead(404, { ...SECURITY_HEADERS, "Content-Type": "text/plain; charset=utf-8" });
      res.end(missing ?? `${path}: not found\n`);
      return true;
    }
    const headers = { ...SECURITY_HEADERS, "Content-Security-Policy": a.policy, "Content-Type": a.type, "Cache-Control": a.cache, ETag: a.etag };
    if (req.headers["if-none-match"] === a.etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    res.writeHead(200, { ...headers, "Content-Length": String(a.body.length) });
    if (req.method === "HEAD") res.end();
    else res.end(a.body);
    return true;
  };
}

function asset(body: Buffer, ext: string, cache: string, policy = CONTENT_SECURITY_POLICY): Asset {
  return { body, policy, type: TYPES[ext]!, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`, cache };
}
