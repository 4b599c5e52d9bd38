// The DNS-rebinding guard of a server without auth. A page on rebind.evil.example whose name
// the attacker re-points at 127.0.0.1 reaches the loopback server from the victim's browser,
// with `Host: rebind.evil.example` (`:authority` over HTTP/2). Without credentials to check,
// the Host is what tells such a call from the local user's: only names that cannot be rebound
// are served — IP literals (a browser sends one only when it connected to that address itself),
// `localhost` and `*.localhost` (RFC 6761: resolved to loopback, never through DNS), and the
// names the operator gave (--allowed-host, the hosts of --public-origin).
import { isIP } from "node:net";
import type { Interceptor } from "@connectrpc/connect";
import { hostNotServed } from "../errors.js";
import { nodeRequestKey } from "../server/request-state.js";

/** "Files.Example.com:8080" → files.example.com and 8080, "[::1]" → ::1; undefined when malformed. */
function parseHost(header: string): { name: string; port?: string } | undefined {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^\s:[\]/@]+))(?::(\d{1,5}))?$/.exec(header.trim().toLowerCase());
  if (!m) return undefined;
  if (m[1] !== undefined && isIP(m[1]) !== 6) return undefined;
  return { name: m[1] ?? m[2].replace(/\.$/, ""), port: m[3] };
}

/** The name a Host header names, lower case, without port or brackets; undefined when malformed. */
export const hostName = (header: string): string | undefined => parseHost(header)?.name;

/** True when a call naming this host may be served without auth. */
export function isServedHost(header: string, allowedNames: ReadonlySet<string>): boolean {
  const name = hostName(header);
  if (name === undefined) return false;
  return isIP(name) !== 0 || name === "localhost" || name.endsWith(".localhost") || allowedNames.has(name);
}

/** Normalized names for --allowed-host (comma-separated values allowed); throws naming a bad one. */
export function parseAllowedHosts(values: string[]): string[] {
  return values
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean)
    .map((v) => {
      const host = parseHost(v);
      if (host === undefined || host.port !== undefined) throw new Error(`--allowed-host ${v}: not a host name (give the name alone, without scheme or port)`);
      return host.name;
    });
}

/**
 * Refuses (PERMISSION_DENIED) a call whose Host or :authority is not served. A request that
 * names no host at all (HTTP/1.0) did not come from a browser and passes.
 */
export function hostCheck(allowedNames: Iterable<string>): Interceptor {
  const allowed = new Set([...allowedNames].map((n) => hostName(n) ?? n));
  return (next) => async (req) => {
    const nodeReq = req.contextValues.get(nodeRequestKey);
    if (!nodeReq) throw hostNotServed("(unknown)");
    for (const name of ["host", ":authority"]) {
      const v = nodeReq.headers[name];
      for (const h of Array.isArray(v) ? v : v === undefined ? [] : [v]) if (!isServedHost(h, allowed)) throw hostNotServed(h);
    }
    return next(req);
  };
}
