// `ls -l` rendering of st_mode, e.g. "-rw-r--r--", "drwxrwxrwt", "lrwxrwxrwx".
import { constants as C } from "node:fs";
import type { EntryType } from "./container-fs.js";

export function entryTypeOf(mode: number): EntryType {
  switch (mode & C.S_IFMT) {
    case C.S_IFREG:
      return "regular";
    case C.S_IFDIR:
      return "directory";
    case C.S_IFLNK:
      return "symlink";
    case C.S_IFIFO:
      return "fifo";
    case C.S_IFSOCK:
      return "socket";
    case C.S_IFCHR:
      return "char-device";
    case C.S_IFBLK:
      return "block-device";
    default:
      return "unknown";
  }
}

const typeChar: Record<EntryType, string> = {
  regular: "-",
  directory: "d",
  symlink: "l",
  fifo: "p",
  socket: "s",
  "char-device": "c",
  "block-device": "b",
  unknown: "?",
};

export function modeText(mode: number): string {
  const bit = (mask: number, ch: string) => (mode & mask ? ch : "-");
  const special = (exec: number, flag: number, set: string) => {
    const x = (mode & exec) !== 0;
    if (mode & flag) return x ? set : set.toUpperCase();
    return x ? "x" : "-";
  };
  return (
    typeChar[entryTypeOf(mode)] +
    bit(0o400, "r") +
    bit(0o200, "w") +
    special(0o100, 0o4000, "s") +
    bit(0o040, "r") +
    bit(0o020, "w") +
    special(0o010, 0o2000, "s") +
    bit(0o004, "r") +
    bit(0o002, "w") +
    special(0o001, 0o1000, "t")
  );
}
