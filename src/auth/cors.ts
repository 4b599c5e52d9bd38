// CORS for browsers, at the HTTP handler (preflight requests never reach
// Connect). Default: same-origin only. A request with an Origin header from
// anywhere else is refused with 403 (preflight or not); an allowed origin gets
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

export function withCors<H extends Handler>(handler: H, options: CorsOptions = {}): H {
  const allowed = new Set<string>();
  for (const o of options.allowedOrigins ?? []) {
    const n = normalizeOrigin(o);
    if (!n) throw new Error(`--cors-origin ${o}: not an origin (scheme://host[:port]) or "*"`);
    allowed.add(n);
  }
  const maxAge = String(options.maxAgeSeconds ?? 7200);

  const wrapped = (req: Req, res: Res) => {
    const origin = header(req, "origin");
    if (origin === undefined) return handler(req, res);
    const preflight = req.method === "OPTIONS" && header(req, "access-control-request-method") !== undefined;
    const normalized = normalizeOrigin(origin);
    const ok = normalized !== undefined && (allowed.has("*") || allowed.has(normalized) || sameOrigin(normalized, req));
    res.setHeader("Vary", "Origin");
    if (!ok) {
      res.writeHead(403, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`origin ${origin} is not allowed (podfiles allows same-origin requests and the origins given with --cors-origin)\n`);
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

/** Origin's host:port equals the Host (HTTP/1.1) or :authority (HTTP/2) the request was sent to. */
function sameOrigin(origin: string, req: Req): boolean {
  const host = header(req, "host") ?? header(req, ":authority");
  if (!host) return false;
  const u = new URL(origin);
  const defaultPort = u.protocol === "https:" ? "443" : "80";
  const withPort = (h: string) => (/:\d+$/.test(h) && !h.endsWith("]") ? h : `${h}:${defaultPort}`);
  return withPort(u.host.toLowerCase()) === withPort(host.toLowerCase());
}
