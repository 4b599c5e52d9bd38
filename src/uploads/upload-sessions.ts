// Resumable uploads made of unary calls (for browsers, which cannot
// client-stream): begin → write chunk at offset → query → commit | abort.
// A session holds an open FileWriter (a temp file); sessions idle longer than
// `idleTimeoutMs` are aborted, removing their temp files.
import { randomBytes } from "node:crypto";
import type { FileWriter } from "../fs/container-fs.js";
import { FileServiceError, failedPrecondition, invalidArgument, notFound } from "../errors.js";
import type { UploadCheck } from "../handlers/upload-check.js";
import { formatName, type ContainerName } from "../resolve/resolver.js";

export interface UploadSessionsOptions {
  /** Idle time after which an upload is abandoned (default 15 minutes). */
  idleTimeoutMs?: number;
  /** Most uploads in progress at once (default 256). */
  maxSessions?: number;
}

export interface UploadSession {
  readonly id: string;
  readonly container: string;
  readonly path: string;
  /** Who began it; later calls must come from the same identity. */
  readonly owner: string;
  readonly writer: FileWriter;
  readonly check: UploadCheck;
  /** Bytes already in the file before this upload (append). */
  readonly startOffset: bigint;
  lastUsed: number;
}

export class UploadSessions {
  readonly idleTimeoutMs: number;
  private readonly maxSessions: number;
  private readonly sessions = new Map<string, UploadSession>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: UploadSessionsOptions = {}) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 15 * 60_000;
    this.maxSessions = options.maxSessions ?? 256;
    this.sweeper = setInterval(() => void this.sweep(), Math.min(this.idleTimeoutMs, 60_000));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  add(fields: Omit<UploadSession, "id" | "lastUsed">): UploadSession {
    if (this.sessions.size >= this.maxSessions) {
      throw new FileServiceError("resource-exhausted", `too many uploads in progress (${this.maxSessions}); commit or abort some first`);
    }
    const session: UploadSession = { ...fields, id: randomBytes(16).toString("hex"), lastUsed: Date.now() };
    this.sessions.set(session.id, session);
    return session;
  }

  /**
   * Runs fn with exclusive use of the session named by id, after checking the
   * caller names the same container, path and identity as BeginUpload did.
   */
  async use<T>(id: string, name: ContainerName, path: string, owner: string, fn: (s: UploadSession) => Promise<T>): Promise<T> {
    const prior = this.locks.get(id) ?? Promise.resolve();
    const run = prior.catch(() => undefined).then(async () => {
      const session = this.sessions.get(id);
      if (!session) throw notFound(`upload ${id || "(empty id)"} not found (finished, aborted or expired after ${this.idleTimeoutMs / 1000} s idle)`);
      if (session.container !== formatName(name) || session.path !== path) {
        throw invalidArgument(`upload ${id} belongs to ${session.container} ${session.path}, not ${formatName(name)} ${path}`);
      }
      if (session.owner !== owner) throw new FileServiceError("permission-denied", `upload ${id} was begun by another identity`);
      session.lastUsed = Date.now();
      return fn(session);
    });
    this.locks.set(id, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === run) this.locks.delete(id);
    }
  }

  /** Forgets a session (after commit or abort). */
  delete(id: string): void {
    this.sessions.delete(id);
  }

  /** Aborts sessions idle for longer than the timeout; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    for (const session of [...this.sessions.values()]) {
      if (now - session.lastUsed < this.idleTimeoutMs || this.locks.has(session.id)) continue;
      this.sessions.delete(session.id);
      await session.writer.abort().catch(() => undefined);
      removed++;
    }
    return removed;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    await this.sweep(Number.POSITIVE_INFINITY);
  }
}

export const requireUploadId = (id: string) => {
  if (!/^[0-9a-f]{32}$/.test(id)) throw invalidArgument("upload_id is required (the id BeginUpload returned)");
  return id;
};

export const offsetMismatch = (offset: bigint, committed: bigint) =>
  failedPrecondition(`chunk offset ${offset} does not match the committed size ${committed}; resume from ${committed}`);
