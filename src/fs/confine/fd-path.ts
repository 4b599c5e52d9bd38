import { closeSync, readlinkSync } from "node:fs";
import { pathFromWire } from "../name-bytes.js";
import { PathError } from "./errors.js";

/**
 * The procfs path of `name` inside the directory open as `dirFd`: `/proc/self/fd/<dirFd>/<name>`.
 * `name` must be a single component (no "/", not "." or ".."): "/proc/self/fd/N/.." would leave
 * the directory. An empty or missing name gives the directory itself (with a trailing "/"). A name
 * in the escaped form of a non-UTF-8 name (src/fs/name-bytes.ts) gives a Buffer of its real bytes.
 */
export function fdPath(dirFd: number, name = ""): string | Buffer {
  if (!Number.isInteger(dirFd) || dirFd < 0) throw new PathError("INVALID_PATH", `bad file descriptor ${dirFd}`);
  if (name.includes("/") || name.includes("\0") || name === "." || name === "..") {
    throw new PathError("INVALID_PATH", `not a single path component: ${JSON.stringify(name)}`);
  }
  const bytes = pathFromWire(name);
  return typeof bytes === "string" ? `/proc/self/fd/${dirFd}/${name}` : Buffer.concat([Buffer.from(`/proc/self/fd/${dirFd}/`), bytes]);
}

/** The path the kernel reports for an open fd (readlink of /proc/self/fd/N); closes the fd if that fails. */
export function realPathOrClose(fd: number): string {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}
