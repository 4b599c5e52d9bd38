// Wildcards in a remote source (kubernetes#68222): the last component of the path may hold
// `*`, `?` and `[...]`; it is matched against one ListFiles of the parent directory, on the
// server side of the shell (a local shell cannot see the container's files). A leading dot is
// matched only by a pattern that starts with one, as in sh.
import { posix } from "node:path";
import type { Connection } from "./client.js";
import { Code, PodfilesError } from "../../client/errors.js";
import { UsageError } from "./errors.js";
import type { RemotePath } from "./remote-path.js";

const GLOB = /[*?[]/;

export const hasGlob = (path: string): boolean => GLOB.test(path);

/** The pattern of one path component as a regular expression (sh rules: * and ? never match "/"). */
export function globRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, end);
      if (body.startsWith("!") || body.startsWith("^")) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, "\\\\")}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\\]]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s");
}

/** A source with a wildcard in its last component → the paths it matches, sorted; none is NOT_FOUND. */
export async function expandRemote(client: Connection["client"], source: RemotePath, signal?: AbortSignal): Promise<RemotePath[]> {
  if (!hasGlob(source.path)) return [source];
  const clean = source.path.replace(/(.)\/+$/, "$1");
  const dir = posix.dirname(clean);
  const pattern = posix.basename(clean);
  if (hasGlob(dir)) throw new UsageError(`${source.path}: only the last component of a remote path may hold wildcards`);
  const re = globRegExp(pattern);
  const matches: string[] = [];
  for await (const entry of client.list({ container: source.container, path: dir }, { hidden: pattern.startsWith("."), signal })) {
    if (re.test(entry.name)) matches.push(posix.join(dir, entry.name));
  }
  if (matches.length === 0) throw new PodfilesError(`${source.path}: no match in ${dir}`, Code.NotFound);
  return matches.sort().map((path) => ({ container: source.container, path }));
}
