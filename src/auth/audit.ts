// The audit log: one JSON line (msg "audit") per mutating call and per denied
// call, through the server's Logger. Fields: who (identity name), kind, peer, forwarded_by (the
// node of the verified agent that forwarded the call),
// method, verbs, container, path, new_path (Rename), bytes, result ("ok",
// "denied" or "error"), code (the status), reason (for denials and errors).
import { Code, type ConnectError } from "@connectrpc/connect";
import { toConnectError } from "../errors.js";
import type { Logger } from "../log.js";

export interface AuditRecord {
  who: string;
  kind?: string;
  peer?: string;
  /** The node of the agent that forwarded the call (its agent credential verified). */
  forwardedBy?: string;
  method: string;
  verbs?: string[];
  container?: string;
  path?: string;
  newPath?: string;
  bytes?: bigint;
}

export type AuditLog = (record: AuditRecord, err?: unknown) => void;

export function auditLog(logger: Logger): AuditLog {
  return (r, err) => {
    const e: ConnectError | undefined = err === undefined ? undefined : toConnectError(err);
    const denied = e !== undefined && (e.code === Code.Unauthenticated || e.code === Code.PermissionDenied || e.code === Code.ResourceExhausted);
    const line = {
      msg: "audit",
      who: r.who,
      kind: r.kind,
      peer: r.peer || undefined,
      forwarded_by: r.forwardedBy,
      method: r.method,
      verbs: r.verbs,
      container: r.container,
      path: r.path,
      new_path: r.newPath,
      bytes: r.bytes,
      result: e === undefined ? "ok" : denied ? "denied" : "error",
      code: e === undefined ? "ok" : Code[e.code],
      ...(e === undefined ? {} : { reason: e.rawMessage }),
    };
    (e === undefined ? logger.info : logger.warn)(line);
  };
}
