// Per-call facts the handlers record for the structured log line
// (container, path, bytes moved), carried in Connect's context values.
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { ContainerName } from "../resolve/resolver.js";
import { formatName } from "../resolve/resolver.js";

export interface CallInfo {
  container?: string;
  path?: string;
  bytes: bigint;
}

export const callInfoKey = createContextKey<CallInfo | undefined>(undefined, { description: "podfiles call info" });

/** The call's info record (a throwaway one when no interceptor installed it). */
export function callInfo(ctx: HandlerContext): CallInfo {
  let info = ctx.values.get(callInfoKey);
  if (!info) {
    info = { bytes: 0n };
    ctx.values.set(callInfoKey, info);
  }
  return info;
}

export function noteTarget(ctx: HandlerContext, name: ContainerName, path: string): CallInfo {
  const info = callInfo(ctx);
  info.container = formatName(name);
  info.path = path;
  return info;
}
