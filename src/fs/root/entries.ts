// Turning stat results into Entries, with names from the container's id files.
import type * as fs from "node:fs";
import { posix } from "node:path";
import type { Entry } from "../container-fs.js";
import type { IdNames } from "../id-names.js";
import { entryTypeOf } from "../mode-text.js";

/** The lstat fields an Entry is made from: an fs.BigIntStats, or an entry of a directory batch (src/fs/confine/dir-stats.ts). */
export type EntryStats = Pick<fs.BigIntStats, "mode" | "uid" | "gid" | "size" | "mtimeMs" | "nlink">;

export function entryFromStats(path: string, st: EntryStats, names: IdNames, symlinkTarget?: string): Entry {
  const mode = Number(st.mode);
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  return {
    name: path === "/" ? "/" : posix.basename(path),
    path,
    type: entryTypeOf(mode),
    size: st.size,
    mode,
    uid,
    gid,
    user: names.user(uid),
    group: names.group(gid),
    mtimeMs: Number(st.mtimeMs),
    nlink: Number(st.nlink),
    symlinkTarget,
  };
}

export const isDirectory = (st: Pick<fs.BigIntStats, "mode">) => entryTypeOf(Number(st.mode)) === "directory";
export const isRegular = (st: Pick<fs.BigIntStats, "mode">) => entryTypeOf(Number(st.mode)) === "regular";
