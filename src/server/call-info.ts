// Per-call facts for the structured log line (caller, container, path, bytes moved), carried in
// Connect's context values: the call-log interceptor installs the record, the auth interceptor
// names the caller, the handlers note the target and count bytes (through HandlerDeps.call).
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { CallFacts } from "../handlers/deps.js";
import type { ContainerName } from "../resolve/resolver.js";
import { formatName } from "../resolve/resolver.js";
import { peerOf, requestBodyAborted } from "./request-state.js";

export interface CallInfo {
  /** Who is calling, as the auth interceptor identified them; "anonymous" without auth. */
  caller: string;
  /** No credentials named the caller (no auth, or a method open to anyone). */
  anonymous: boolean;
  container?: string;
  path?: string;
  bytes: bigint;
}

export const newCallInfo = (): CallInfo => ({ caller: "anonymous", anonymous: true, bytes: 0n });

export const callInfoKey = createContextKey<CallInfo | undefined>(undefined, { description: "podfiles call info" });

/**
 * Whether the caller may read (`get`) a pod's containers: the auth interceptor installs its own
 * check for the call; without auth no check is installed and every container may be read.
 */
export type ReadAccess = (namespace: string, pod: string) => Promise<boolean>;

export const readAccessKey = createContextKey<ReadAccess | undefined>(undefined, { description: "podfiles read access check" });

const everyone: ReadAccess = async () => true;

/** The call's info record (a throwaway one when no interceptor installed it). */
export function callInfo(ctx: HandlerContext): CallInfo {
  let info = ctx.values.get(callInfoKey);
  if (!info) {
    info = newCallInfo();
    ctx.values.set(callInfoKey, info);
  }
  return info;
}

/** What the handlers learn about and record on their call (HandlerDeps.call). */
export const callFacts: CallFacts = {
  noteTarget(ctx: HandlerContext, name: ContainerName, path: string): CallInfo {
    const info = callInfo(ctx);
    info.container = formatName(name);
    info.path = path;
    return info;
  },
  requestBodyAborted,
  mayRead: (ctx: HandlerContext) => ctx.values.get(readAccessKey) ?? everyone,
  caller(ctx: HandlerContext) {
    const info = callInfo(ctx);
    // anonymous callers are told apart by address (each has its own cap of upload sessions)
    return { owner: info.caller, capKey: info.anonymous ? `anonymous caller ${peerOf(ctx.values) || "(unknown address)"}` : info.caller };
  },
};
