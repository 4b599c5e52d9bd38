// Typed errors and their one mapping to gRPC/Connect status codes.
//
// Everything below the handlers throws either a FileServiceError (a decision
// made by podfiles) or a Node system error carrying an errno `code`; the error
// interceptor turns both into a ConnectError here, and nowhere else.
import { Code, ConnectError } from "@connectrpc/connect";
import { PathError } from "./fs/confine/index.js";

export type ErrorKind =
  | "invalid-argument"
  | "not-found"
  | "already-exists"
  | "permission-denied"
  | "failed-precondition"
  | "resource-exhausted"
  | "unavailable"
  | "cancelled"
  | "aborted"
  | "out-of-range"
  | "unauthenticated"
  | "data-loss"
  | "internal";

const kindToCode: Record<ErrorKind, Code> = {
  "invalid-argument": Code.InvalidArgument,
  "not-found": Code.NotFound,
  "already-exists": Code.AlreadyExists,
  "permission-denied": Code.PermissionDenied,
  "failed-precondition": Code.FailedPrecondition,
  "resource-exhausted": Code.ResourceExhausted,
  unavailable: Code.Unavailable,
  cancelled: Code.Canceled,
  aborted: Code.Aborted,
  "out-of-range": Code.OutOfRange,
  unauthenticated: Code.Unauthenticated,
  "data-loss": Code.DataLoss,
  internal: Code.Internal,
};

/** An error podfiles raises on purpose, with the status it should carry. */
export class FileServiceError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "FileServiceError";
  }
}

// The one place FileServiceErrors are built: one constructor per kind (`cause` is kept for the log).
const kindOf =
  (kind: ErrorKind) =>
  (msg: string, cause?: unknown): FileServiceError =>
    new FileServiceError(kind, msg, cause === undefined ? undefined : { cause });
export const invalidArgument = kindOf("invalid-argument");
export const failedPrecondition = kindOf("failed-precondition");
export const notFound = kindOf("not-found");
export const alreadyExists = kindOf("already-exists");
export const aborted = kindOf("aborted");
export const resourceExhausted = kindOf("resource-exhausted");
export const unavailable = kindOf("unavailable");
export const unauthenticated = kindOf("unauthenticated");
export const permissionDenied = kindOf("permission-denied");
export const cancelled = kindOf("cancelled");
export const outOfRange = kindOf("out-of-range");
export const dataLoss = kindOf("data-loss");

/**
 * The target of a write or rename exists and the call did not ask to replace it. One wording
 * everywhere: the CLI finds "(ask for overwrite …)" and names its own -f flag instead.
 */
export const targetExists = (path: string, also = "") => alreadyExists(`${path}: already exists (ask for overwrite to replace it${also})`);

/** A FIFO, socket or device node a call would have to open: refused by its type, never opened. */
export const cannotOpenType = (path: string, verb: string, type: string) => failedPrecondition(`${path}: cannot ${verb} a ${type}`);

/** errno → status and a sentence a person understands. */
const errnoTable: Record<string, [ErrorKind, string]> = {
  ENOENT: ["not-found", "no such file or directory"],
  ENOTDIR: ["failed-precondition", "a path component is not a directory"],
  EISDIR: ["failed-precondition", "is a directory"],
  ENOTEMPTY: ["failed-precondition", "directory not empty (set recursive to remove it)"],
  EEXIST: ["already-exists", "already exists"],
  EACCES: ["permission-denied", "permission denied"],
  EPERM: ["permission-denied", "operation not permitted"],
  EROFS: ["failed-precondition", "read-only file system"],
  ELOOP: ["failed-precondition", "too many levels of symbolic links (symlink loop)"],
  ENAMETOOLONG: ["invalid-argument", "file name too long"],
  EXDEV: ["permission-denied", "path resolves outside the container"],
  ENOSPC: ["resource-exhausted", "no space left on device"],
  EDQUOT: ["resource-exhausted", "disk quota exceeded"],
  EFBIG: ["resource-exhausted", "file too large"],
  EMFILE: ["resource-exhausted", "too many open files"],
  ENFILE: ["resource-exhausted", "too many open files in system"],
  EBUSY: ["failed-precondition", "device or resource busy"],
  EINVAL: ["invalid-argument", "invalid argument"],
  ETXTBSY: ["failed-precondition", "text file busy"],
};

function isErrnoError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string";
}

/**
 * Converts any error into a ConnectError. `path` (the path the caller asked
 * for, inside the container) is named in messages; host paths never are.
 */
export function toConnectError(err: unknown, path?: string): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof FileServiceError) {
    return new ConnectError(err.message, kindToCode[err.kind], undefined, undefined, err);
  }
  if (err instanceof PathError) {
    return new ConnectError(err.message, Code.InvalidArgument, undefined, undefined, err);
  }
  if (isErrnoError(err) && err.code && err.code in errnoTable) {
    const [kind, text] = errnoTable[err.code];
    const where = path ? `${path}: ` : "";
    return new ConnectError(`${where}${text}`, kindToCode[kind], undefined, undefined, err);
  }
  if (err instanceof Error && err.name === "AbortError") {
    return new ConnectError("call cancelled", Code.Canceled, undefined, undefined, err);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectError(`internal error: ${message}`, Code.Internal, undefined, undefined, err);
}

/** A call to a server without auth that names a Host it does not serve (src/auth/host-check.ts). */
export const hostNotServed = (host: string) =>
  new FileServiceError(
    "permission-denied",
    `host "${host}" is not served without auth: only localhost, *.localhost, IP addresses and the names given with --allowed-host or --public-origin are (a guard against DNS rebinding); start podfiles with --allowed-host <name> if this name is yours`,
  );
