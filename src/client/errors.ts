// The SDK's errors. Every failure of a call is a PodfilesError carrying the gRPC status code
// (a ConnectError, so code that already catches those keeps working); a transfer whose bytes do
// not match the length or SHA-256 the other side announced is a DigestMismatchError (DATA_LOSS).
import { Code, ConnectError } from "@connectrpc/connect";

export { Code };

/** Code.NotFound → "NOT_FOUND", as gRPC spells status codes. */
export function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  const name = Code[code] ?? String(code);
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

export class PodfilesError extends ConnectError {
  override name = "PodfilesError";

  // ConnectError's instanceof matches by name ("ConnectError"), which no subclass passes: use the prototype chain
  static override [Symbol.hasInstance](v: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, v);
  }

  constructor(message: string, code: Code, options: { metadata?: Headers; cause?: unknown } = {}) {
    super(message, code, options.metadata, undefined, options.cause);
  }

  /** "NOT_FOUND", "DATA_LOSS", … */
  get codeName(): string {
    return codeName(this.code);
  }

  /** Any thrown value as a PodfilesError (ConnectErrors keep their code; an abort is CANCELLED). */
  static override from(err: unknown): PodfilesError {
    if (err instanceof PodfilesError) return err;
    if (err instanceof ConnectError) return new PodfilesError(err.rawMessage, err.code, { metadata: err.metadata, cause: err });
    if (isAbort(err)) return new PodfilesError("the call was cancelled", Code.Canceled, { cause: err });
    const e = err as NodeJS.ErrnoException | undefined;
    const message = err instanceof Error ? err.message : String(err);
    return new PodfilesError(message, localCode(e?.code), { cause: err });
  }
}

/** The bytes that arrived are not the bytes that were sent: the length or the digest differ. */
export class DigestMismatchError extends PodfilesError {
  override name = "DigestMismatchError";

  constructor(
    message: string,
    /** what the other side announced and what was computed here (hex digests or byte counts) */
    readonly expected: string,
    readonly actual: string,
    /** the digest that differed ("sha256", "crc32"); undefined when the lengths did */
    readonly algorithm?: string,
  ) {
    super(message, Code.DataLoss);
  }
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === "AbortError" || (err as { code?: unknown }).code === "ABORT_ERR");
}

/** Local (errno) failures of the file helpers, as the status the server would give them. */
function localCode(errno: string | undefined): Code {
  switch (errno) {
    case "ENOENT":
      return Code.NotFound;
    case "EEXIST":
      return Code.AlreadyExists;
    case "EACCES":
    case "EPERM":
      return Code.PermissionDenied;
    case "ENOSPC":
      return Code.ResourceExhausted;
    case "ENOTDIR":
    case "EISDIR":
      return Code.FailedPrecondition;
    case "ECONNREFUSED":
    case "ECONNRESET":
    case "EPIPE":
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

export const invalidArgument = (message: string) => new PodfilesError(message, Code.InvalidArgument);
export const failedPrecondition = (message: string) => new PodfilesError(message, Code.FailedPrecondition);
export const dataLoss = (message: string) => new PodfilesError(message, Code.DataLoss);
export const cancelled = (reason?: unknown) => new PodfilesError("the call was cancelled", Code.Canceled, { cause: reason });
