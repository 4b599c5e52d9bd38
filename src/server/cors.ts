// CORS for browsers, at the HTTP handler (preflight requests never reach
// Connect). Default: same-origin only, where the server's origins are the ones
// it was configured with (--public-origin; by default the loopback origins of
// its port), never the Host the request names: under DNS rebinding a hostile
// page sends its own name as both Host and Origin. A request with an Origin
// header from anywhere else is refused with 403 (preflight or not); an allowed origin gets
// Access-Control-Allow-Origin, and the Connect / gRPC-Web headers that
// @connectrpc/connect's `cors` constants list (plus Authorization) are allowed
// and exposed. Credentials are bearer tokens in a header, never cookies, so
// Access-Control-Allow-Credentials is not sent.
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { cors } from "@connectrpc/connect";

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;
type Handler = (req: Req, res: Res) => void;

export interface CorsOptions {
  /** Origins (scheme://host[:port]) allowed besides same-origin; "*" allows any. */
  allowedOrigins?: string[];
  /** The server's own origins, what same-origin means (--public-origin); default: its loopback origins (loopbackOrigins). */
  publicOrigins?: string[];
  /** Access-Control-Max-Age of preflight answers (default 7200 s). */
  maxAgeSeconds?: number;
}

export const ALLOWED_HEADERS = [...cors.allowedHeaders, "Authorization"];
export const EXPOSED_HEADERS = [...cors.exposedHeaders];
export const ALLOWED_METHODS = [...cors.allowedMethods];

/** "https://Example.com:443/" → "https://example.com"; undefined when not an origin. */
export function normalizeOrigin(origin: string): string | undefined {
  if (origin === "*") return "*";
  try {
    const u = new URL(origin);
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    return u.origin;
  } catch {
    return undefined;
  }
}

/** The origins a browser uses for a server on this port of this machine's loopback. */
export function loopbackOrigins(scheme: "http" | "https", port: number): string[] {
  return ["127.0.0.1", "localhost", "[::1]"].map((h) => normalizeOrigin(`${scheme}://${h}:${port}`)!);
}

/** Normalized origins; throws naming the flag when one is not an origin. */
export function parseOrigins(origins: string[], flag: string, allowAny = false): string[] {
  return origins.map((o) => {
    const n = normalizeOrigin(o);
    if (!n || (n === "*" && !allowAny)) throw new Error(`${flag} ${o}: not an origin (scheme://host[:port])${allowAny ? ' or "*"' : ""}`);
    return n;
  });
}

/**
 * defaultPublicOrigins is asked per request when options.publicOrigins is not set: the server
 * knows its port (and so its loopback origins) only once it listens.
 */
export function withCors<H extends Handler>(handler: H, options: CorsOptions = {}, defaultPublicOrigins: () => readonly string[] = () => []): H {
  const allowed = new Set(parseOrigins(options.allowedOrigins ?? [], "--cors-origin", true));
  const configuredPublic = options.publicOrigins ? new Set(parseOrigins(options.publicOrigins, "--public-origin")) : undefined;
  const sameOrigin = (origin: string) => (configuredPublic ? configuredPublic.has(origin) : defaultPublicOrigins().includes(origin));
  const maxAge = String(options.maxAgeSeconds ?? 7200);

  const wrapped = (req: Req, res: Res) => {
    const origin = header(req, "origin");
    if (origin === undefined) return handler(req, res);
    const preflight = req.method === "OPTIONS" && header(req, "access-control-request-method") !== undefined;
    const normalized = normalizeOrigin(origin);
    const ok = normalized !== undefined && (allowed.has("*") || allowed.has(normalized) || sameOrigin(normalized));
    res.setHeader("Vary", "Origin");
    if (!ok) {
      res.writeHead(403, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`origin ${origin} is not allowed (podfiles allows its own origins, set with --public-origin, and those given with --cors-origin)\n`);
      return;
    }
    res.setHeader("Access-Control-Allow-Origin", origin);
    if (preflight) {
      res.writeHead(204, {
        "Access-Control-Allow-Methods": ALLOWED_METHODS.join(", "),
        "Access-Control-Allow-Headers": ALLOWED_HEADERS.join(", "),
        "Access-Control-Max-Age": maxAge,
      });
      res.end();
      return;
    }
    res.setHeader("Access-Control-Expose-Headers", EXPOSED_HEADERS.join(", "));
    return handler(req, res);
  };
  return wrapped as H;
}

function header(req: Req, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
