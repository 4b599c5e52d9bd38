// How entries print: `ls -l` lines, `stat` blocks and JSON objects.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { FileType, type FileEntry } from "../../../gen/ts/podfiles/v1/files_pb.js";

const typeNames: Record<FileType, string> = {
  [FileType.UNSPECIFIED]: "unknown",
  [FileType.REGULAR]: "regular",
  [FileType.DIRECTORY]: "directory",
  [FileType.SYMLINK]: "symlink",
  [FileType.FIFO]: "fifo",
  [FileType.SOCKET]: "socket",
  [FileType.CHAR_DEVICE]: "char-device",
  [FileType.BLOCK_DEVICE]: "block-device",
};

export const typeName = (t: FileType) => typeNames[t] ?? "unknown";

export function mtimeOf(e: FileEntry): Date | undefined {
  return e.modifyTime ? timestampDate(e.modifyTime) : undefined;
}

export interface EntryJson {
  name: string;
  path: string;
  type: string;
  size: number;
  mode: string;
  modeText: string;
  uid: number;
  gid: number;
  user: string;
  group: string;
  mtime: string | null;
  nlink: number;
  symlinkTarget?: string;
}

export function entryJson(e: FileEntry): EntryJson {
  const out: EntryJson = {
    name: e.name,
    path: e.path,
    type: typeName(e.type),
    size: Number(e.size),
    mode: (e.mode & 0o7777).toString(8).padStart(4, "0"),
    modeText: e.modeText,
    uid: e.uid,
    gid: e.gid,
    user: e.user,
    group: e.group,
    mtime: mtimeOf(e)?.toISOString() ?? null,
    nlink: Number(e.nlink),
  };
  if (e.type === FileType.SYMLINK) out.symlinkTarget = e.symlinkTarget;
  return out;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const HALF_YEAR_MS = 182.5 * 24 * 3600 * 1000;

/** ls's time column: "Mar  4 15:04" within six months, "Mar  4  2023" otherwise. */
export function lsTime(d: Date | undefined, now = Date.now()): string {
  if (!d) return "?".padStart(12);
  const day = String(d.getDate()).padStart(2, " ");
  const recent = Math.abs(now - d.getTime()) < HALF_YEAR_MS;
  const tail = recent ? `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}` : ` ${d.getFullYear()}`;
  return `${MONTHS[d.getMonth()]} ${day} ${tail}`;
}

/** The `ls -l` columns of many entries, aligned like ls aligns them. */
export function longLines(entries: FileEntry[], nameOf: (e: FileEntry) => string): string[] {
  const rows = entries.map((e) => {
    const name = nameOf(e);
    return [
      e.modeText || "?---------",
      String(e.nlink),
      e.user || String(e.uid),
      e.group || String(e.gid),
      String(e.size),
      lsTime(mtimeOf(e)),
      e.type === FileType.SYMLINK ? `${name} -> ${e.symlinkTarget}` : name,
    ];
  });
  const widths = [0, 0, 0, 0, 0];
  for (const r of rows) for (let i = 0; i < 5; i++) widths[i] = Math.max(widths[i]!, r[i]!.length);
  return rows.map((r) =>
    [r[0]!.padEnd(widths[0]!), r[1]!.padStart(widths[1]!), r[2]!.padEnd(widths[2]!), r[3]!.padEnd(widths[3]!), r[4]!.padStart(widths[4]!), r[5], r[6]].join(
      " ",
    ),
  );
}

/** stat(1)-like block. */
export function statText(e: FileEntry): string {
  const mode = (e.mode & 0o7777).toString(8).padStart(4, "0");
  const lines = [
    `  File: ${e.path}${e.type === FileType.SYMLINK ? ` -> ${e.symlinkTarget}` : ""}`,
    `  Type: ${typeName(e.type)}`,
    `  Size: ${e.size}`,
    ` Links: ${e.nlink}`,
    `Access: (${mode}/${e.modeText})  Uid: (${e.uid}/${e.user || "?"})  Gid: (${e.gid}/${e.group || "?"})`,
    `Modify: ${mtimeOf(e)?.toISOString() ?? "?"}`,
  ];
  return lines.join("\n");
}
