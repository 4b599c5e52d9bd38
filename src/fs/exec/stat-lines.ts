// Parsing `stat -c STAT_FORMAT` output (busybox and GNU stat print the same for these fields).
// Each record is "<mode hex> <uid> <gid> <size> <mtime s> <nlink> <path>//\n". The path is
// printed raw (any byte but NUL, newlines included); it ends at the first "//" after its start,
// because find and our cleaned paths never hold "//" and a name never holds "/".
import { posix } from "node:path";
import type { Entry } from "../container-fs.js";
import type { IdNames } from "../id-names.js";
import { entryTypeOf } from "../mode-text.js";
import { wireFromBytes } from "../name-bytes.js";

export const STAT_FORMAT = "%f %u %g %s %Y %h %n//";

export interface StatRecord {
  mode: number;
  uid: number;
  gid: number;
  size: bigint;
  mtimeMs: number;
  nlink: number;
  /** The path as stat printed it (bytes). */
  path: Buffer;
}

const FIELD = /^([0-9a-f]+) (\d+) (\d+) (\d+) (-?\d+) (\d+) $/;
const END = Buffer.from("//\n");

/** Every complete record in `buf`, and how many bytes they took (the rest waits for more input). */
export function parseStatRecords(buf: Buffer): { records: StatRecord[]; used: number } {
  const records: StatRecord[] = [];
  let pos = 0;
  for (;;) {
    // six fields, each followed by one space; the path starts after the sixth
    let fieldsEnd = pos;
    for (let spaces = 0; spaces < 6; spaces++) {
      const sp = buf.indexOf(0x20, fieldsEnd);
      if (sp < 0 || sp - pos > 120) return { records, used: pos };
      fieldsEnd = sp + 1;
    }
    const end = buf.indexOf(END, fieldsEnd);
    if (end < 0) return { records, used: pos };
    const m = FIELD.exec(buf.subarray(pos, fieldsEnd).toString("latin1"));
    if (!m) throw new Error(`unexpected stat output: ${JSON.stringify(buf.subarray(pos, Math.min(buf.length, pos + 80)).toString("utf8"))}`);
    records.push({
      mode: parseInt(m[1]!, 16),
      uid: Number(m[2]),
      gid: Number(m[3]),
      size: BigInt(m[4]!),
      mtimeMs: Number(m[5]) * 1000,
      nlink: Number(m[6]),
      path: buf.subarray(fieldsEnd, end),
    });
    pos = end + END.length;
  }
}

/** A record as an Entry; `path` is the API form (escaped when the bytes are not UTF-8). */
export function entryFromRecord(r: StatRecord, names: IdNames, symlinkTarget?: string): Entry {
  const path = wireFromBytes(r.path);
  return {
    name: path === "/" ? "/" : posix.basename(path),
    path,
    type: entryTypeOf(r.mode),
    size: r.size,
    mode: r.mode,
    uid: r.uid,
    gid: r.gid,
    user: names.user(r.uid),
    group: names.group(r.gid),
    mtimeMs: r.mtimeMs,
    nlink: r.nlink,
    symlinkTarget,
  };
}
