// The Content-Disposition of a file saved by a browser or `curl -OJ`: the page's service worker
// (src/web-page/save-worker.ts) and kube-finder's download (src/server/kube-finder-api.ts). A leaf:
// globals only (TextEncoder), the page and the server both import it.
//
// What this guarantees: `attachment`, the name as RFC 6266 / RFC 8187 `filename*` (UTF-8,
// percent-encoded: any name a container holds, newlines and quotes included, stays one header value
// of visible ASCII) and a plain `filename` for clients that read only that one, curl's -J among them
// (ASCII letters, digits and `._-+()` kept, the rest `_`).
// Out of scope: what the client then makes of the name (browsers strip path separators and names
// their platform forbids, and pick another name when the file exists).

const ATTR_CHAR = /[A-Za-z0-9!#$&+.^_`|~-]/;
const PLAIN_CHAR = /[A-Za-z0-9._+()-]/;

/** `attachment; filename="…"; filename*=UTF-8''…` for `name` (an empty name is saved as `download`). */
export function contentDisposition(name: string): string {
  const chosen = name === "" ? "download" : name;
  let encoded = "";
  for (const byte of new TextEncoder().encode(chosen)) {
    const ch = String.fromCharCode(byte);
    encoded += byte < 0x80 && ATTR_CHAR.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  let plain = "";
  for (const ch of chosen) plain += PLAIN_CHAR.test(ch) ? ch : "_";
  return `attachment; filename="${plain}"; filename*=UTF-8''${encoded}`;
}
