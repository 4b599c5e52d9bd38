// uid/gid → names, read from the container's own /etc/passwd and /etc/group
// (never the host's). Parsed lazily and re-read when the files change.

export type IdNameMap = ReadonlyMap<number, string>;

/** Parses passwd(5)/group(5) text: name:x:id:... per line. First name wins. */
export function parseIdFile(text: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const fields = line.split(":");
    if (fields.length < 3) continue;
    const id = Number(fields[2]);
    if (!Number.isInteger(id) || id < 0) continue;
    if (!names.has(id)) names.set(id, fields[0]);
  }
  return names;
}

export interface IdNames {
  user(uid: number): string;
  group(gid: number): string;
}

/** A pair of maps with the lookup the entries need. */
export function idNames(users: IdNameMap, groups: IdNameMap): IdNames {
  return {
    user: (uid) => users.get(uid) ?? "",
    group: (gid) => groups.get(gid) ?? "",
  };
}
