import { constants as osc } from "node:os";
import { getSystemErrorName } from "node:util";

export type PathErrorCode = "INVALID_PATH" | "PATH_TOO_LONG" | "NAME_TOO_LONG";

/** A request path rejected before touching the filesystem. Callers map every PathError to INVALID_ARGUMENT. */
export class PathError extends Error {
  override readonly name = "PathError";
  constructor(
    readonly code: PathErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A Node-style system error: `.code` is the errno name, `.errno` the negative errno number (as in node:fs). */
export interface ConfineSystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

/** Builds a Node-style system error for `code` (an errno name such as "ELOOP" or "EXDEV"). */
export function systemError(code: string, syscall: string, path?: string): ConfineSystemError {
  const num = (osc.errno as Record<string, number>)[code] ?? 0;
  const err = new Error(`${code}: ${syscall}${path === undefined ? "" : ` '${path}'`}`) as ConfineSystemError;
  err.code = code;
  err.errno = -num;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

/**
 * Rethrows an error from node:fs or the addon as a system error naming the caller's request path,
 * not the internal /proc/self/fd/N path. Non-system errors pass through unchanged.
 */
export function asSystemError(e: unknown, syscall: string, path: string): unknown {
  const errno = (e as { errno?: unknown } | null)?.errno;
  if (typeof errno !== "number" || errno >= 0) return e;
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    code = (e as { code?: string }).code ?? "EIO";
  }
  return systemError(code, syscall, path);
}
