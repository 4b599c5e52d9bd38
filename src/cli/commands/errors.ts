// Errors of the client commands and the one line each prints.
import { Code, ConnectError } from "@connectrpc/connect";
import { PodfilesError, codeName } from "../../client/errors.js";

export { codeName };

/** Bad flags or arguments: found before any call is made. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * What a command says instead of the server's hints, which name the API's fields ("ask for
 * overwrite"): e.g. { overwrite: "use -f to replace it" }. A hint the command has no flag for is
 * dropped.
 */
export interface FlagHints {
  /** ALREADY_EXISTS: "(ask for overwrite to replace it)" */
  overwrite?: string;
  /** FAILED_PRECONDITION, a non-empty directory: "(set recursive to remove it)" */
  recursive?: string;
  /** FAILED_PRECONDITION, a directory read as a file: "(ask for the tar format)" */
  tar?: string;
}

const SERVER_HINTS: [RegExp, keyof FlagHints][] = [
  [/ \(ask for overwrite to replace it[^)]*\)/, "overwrite"],
  [/ \(set recursive to remove it\)/, "recursive"],
  [/ \(ask for the tar format\)/, "tar"],
];

function restateHints(message: string, hints: FlagHints): string {
  for (const [pattern, key] of SERVER_HINTS) message = message.replace(pattern, hints[key] ? ` (${hints[key]})` : "");
  return message;
}

/** One line, no stack: "NOT_FOUND: /nope: no such file or directory". */
export function formatError(err: unknown, hints: FlagHints = {}): string {
  if (err instanceof ConnectError || err instanceof PodfilesError) {
    let message = restateHints(err.rawMessage, hints);
    if (err.code === Code.Unavailable && /ECONNREFUSED|connect/i.test(message)) message = `cannot reach the server (${message})`;
    return `${codeName(err.code)}: ${message.replace(/\s*\n\s*/g, " ")}`;
  }
  if (err instanceof UsageError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === "object" && typeof e.code === "string" && e.syscall) {
    return `${e.code}: ${e.path ? `${e.path}: ` : ""}${e.message.replace(/^[A-Z]+: /, "").replace(/, \w+ '.*'$/, "")}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Exit codes: 2 for usage errors, 1 for everything else. */
export function exitCodeFor(err: unknown): number {
  return err instanceof UsageError ? 2 : 1;
}
