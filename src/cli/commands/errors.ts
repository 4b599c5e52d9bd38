// Errors of the client commands and the one line each prints.
import { Code, ConnectError } from "@connectrpc/connect";
import { PodfilesError, codeName } from "../../client/errors.js";

export { codeName };

/** Bad flags or arguments: found before any call is made. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** One line, no stack: "NOT_FOUND: /nope: no such file or directory". */
export function formatError(err: unknown): string {
  if (err instanceof ConnectError || err instanceof PodfilesError) {
    let message = err.rawMessage;
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
