// What the handlers need from the server, passed explicitly.
import type { Resolver } from "../resolve/resolver.js";
import type { UploadSessions } from "../uploads/upload-sessions.js";

export interface HandlerDeps {
  resolver: Resolver;
  uploads: UploadSessions;
  /** Download chunk size when the request names none (default 1 MiB). */
  defaultChunkSize: number;
  /** Largest chunk a download may ask for (default 4 MiB). */
  maxChunkSize: number;
}
