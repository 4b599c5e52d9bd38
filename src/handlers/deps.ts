// What the handlers need from the server, passed explicitly.
import type { Client, HandlerContext } from "@connectrpc/connect";
import type { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
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

/** The agents a Copy writes to when its destination is served elsewhere (src/server/forward/copy-peers.ts implements it). */
export interface CopyPeers {
  /**
   * A FileService client of the agent that serves `name`, carrying the caller of `ctx` (its own
   * credentials, or the identity this agent authenticated), so that agent authorizes the caller
   * itself; undefined when `name` is served here. Throws as forwarding does (NOT_FOUND,
   * FAILED_PRECONDITION naming a node without a ready agent, UNAVAILABLE).
   */
  clientFor(name: ContainerName, ctx: HandlerContext): Promise<Client<typeof FileService> | undefined>;
}

export interface HandlerDeps {
  resolver: Resolver;
  uploads: UploadSessions;
  call: CallFacts;
  /** Download chunk size when the request names none (default 1 MiB). */
  defaultChunkSize: number;
  /** Largest chunk a download may ask for (default 4 MiB). */
  maxChunkSize: number;
  /** Absent: every Copy destination is served here (local mode, one node, or no forwarding). */
  copyPeers?: CopyPeers;
}
