import { constants as fsc } from "node:fs";

/** open(2) flags Node's fs.constants lacks (values for Linux x86_64/arm64; Node passes numeric flags through to open(2)). */
export const O_PATH = 0o10000000;
export const O_CLOEXEC = 0o2000000;
export const O_TMPFILE = 0o20000000 | fsc.O_DIRECTORY;

export const { O_NOFOLLOW, O_DIRECTORY, O_CREAT, O_EXCL } = fsc;

/** openat2(2) resolve flags from <linux/openat2.h>. */
export const RESOLVE_NO_MAGICLINKS = 0x02;
export const RESOLVE_NO_SYMLINKS = 0x04;
export const RESOLVE_BENEATH = 0x08;
export const RESOLVE_IN_ROOT = 0x10;

/** renameat2(2) flag: fail with EEXIST instead of replacing the target. */
export const RENAME_NOREPLACE = 1;

/** Linux MAXSYMLINKS: at most this many symlinks are followed in one resolution. */
export const MAX_SYMLINKS = 40;
/** Linux PATH_MAX (bytes, including the NUL) and NAME_MAX. */
export const PATH_MAX = 4096;
export const NAME_MAX = 255;
