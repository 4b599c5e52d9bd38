import { NAME_MAX, PATH_MAX } from "./constants.js";
import { PathError } from "./errors.js";
import { pathFromWire } from "../name-bytes.js";

/** Bytes the kernel sees for an API string (an escaped non-UTF-8 name counts its real bytes). */
const kernelBytes = (s: string): number => {
  const p = pathFromWire(s);
  return typeof p === "string" ? Buffer.byteLength(p, "utf8") : p.length;
};

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Validates a request path and splits it into components, resolving "." and ".." lexically
 * (".." clamps at the root). Returns [] for the root itself.
 */
export function pathComponents(path: string): string[] {
  if (typeof path !== "string") throw new PathError("INVALID_PATH", "path must be a string");
  if (path.includes("\0")) throw new PathError("INVALID_PATH", "path contains a NUL byte");
  if (LONE_SURROGATE.test(path)) throw new PathError("INVALID_PATH", "path is not valid Unicode");
  if (kernelBytes(path) > PATH_MAX) {
    throw new PathError("PATH_TOO_LONG", `path is longer than ${PATH_MAX} bytes`);
  }
  const out: string[] = [];
  for (const c of path.split("/")) {
    if (kernelBytes(c) > NAME_MAX) {
      throw new PathError("NAME_TOO_LONG", `a path component is longer than ${NAME_MAX} bytes`);
    }
    if (c === "" || c === ".") continue;
    if (c === "..") out.pop();
    else out.push(c);
  }
  return out;
}

/** Normalizes a request path to its canonical absolute in-root form ("/a/b"; "/" for the root). */
export function cleanPath(path: string): string {
  return "/" + pathComponents(path).join("/");
}
