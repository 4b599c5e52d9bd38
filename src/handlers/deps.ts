// What the handlers need from the server, passed explicitly.
import type { HandlerContext } from "@connectrpc/connect";
import type { ContainerName, Resolver } from "../resolve/resolver.js";
import type { UploadSessions } from "./upload-sessions.js";

/** The call a handler serves, as the server knows it (src/server/call-info.ts implements it). */
export interface CallFacts {
  /** Notes the call's container and path for its log line; the handler adds the bytes it moves to the record. */
  noteTarget(ctx: HandlerContext, name: ContainerName, path: string): { bytes: bigint };
  /** Once the request body has ended: true when the client aborted it rather than finishing it. */
  requestBodyAborted(ctx: HandlerContext): boolean;
  /** The caller's read check (RBAC `get` on containerfiles, or a JWT's scope): ListContainers keeps only what it allows. */
  mayRead(ctx: HandlerContext): (namespace: string, pod: string) => Promise<boolean>;
  /** Who is calling: the owner of an upload session, and the key of the session cap it counts against. */
  caller(ctx: HandlerContext): { owner: string; capKey: string };
}

export interface HandlerDeps {
  resolver: Resolver;
  uploads: UploadSessions;
  call: CallFacts;
  /** Download chunk size when the request names none (default 1 MiB). */
  defaultChunkSize: number;
  /** Largest chunk a download may ask for (default 4 MiB). */
  maxChunkSize: number;
}
