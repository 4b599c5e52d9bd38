// Resumable uploads made of unary calls (for browsers, which cannot
// client-stream): begin → write chunk at offset → query → commit | abort.
// A session holds an open FileWriter (a temp file); sessions idle longer than
// `idleTimeoutMs` are aborted, removing their temp files. Sessions are capped
// in total and per caller, so one caller cannot hold the whole pool.
import { randomBytes } from "node:crypto";
import type { FileWriter } from "../fs/container-fs.js";
import { failedPrecondition, invalidArgument, notFound, resourceExhausted, permissionDenied } from "../errors.js";
import type { UploadCheck } from "./upload-check.js";
import { formatName, type ContainerName } from "../resolve/resolver.js";

export interface UploadSessionsOptions {
  /** Idle time after which an upload is abandoned (default 15 minutes). */
  idleTimeoutMs?: number;
  /** Most uploads in progress at once (default 256). */
  maxSessions?: number;
  /** Most uploads in progress at once for one caller (default 32). */
  maxSessionsPerCaller?: number;
  /** Uploads keep setuid/setgid bits (`--allow-setid`); default false: every upload path drops them. */
  allowSetid?: boolean;
}

export interface UploadSession {
  readonly id: string;
  readonly container: string;
  readonly path: string;
  /** Who began it; later calls must come from the same identity. */
  readonly owner: string;
  /** Whose cap it counts against (the identity; for anonymous callers, with the peer address). */
  readonly caller: string;
  readonly writer: FileWriter;
  readonly check: UploadCheck;
  /** Bytes already in the file before this upload (append). */
  readonly startOffset: bigint;
  lastUsed: number;
}

export class UploadSessions {
  readonly idleTimeoutMs: number;
  readonly allowSetid: boolean;
  private readonly maxSessions: number;
  private readonly maxPerCaller: number;
  private readonly sessions = new Map<string, UploadSession>();
  /** Sessions counted per caller, including those still opening their writer. */
  private readonly perCaller = new Map<string, number>();
  private opening = 0;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(options: UploadSessionsOptions = {}) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 15 * 60_000;
    this.maxSessions = options.maxSessions ?? 256;
    this.maxPerCaller = options.maxSessionsPerCaller ?? 32;
    this.allowSetid = options.allowSetid ?? false;
    this.sweeper = setInterval(() => void this.sweep(), Math.min(this.idleTimeoutMs, 60_000));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /**
   * Begins a session for caller: checks the caps (RESOURCE_EXHAUSTED naming the one reached), then
   * opens its writer with open(id) while the slot is held, so concurrent begins cannot overshoot
   * and a refused one creates nothing.
   */
  async begin(caller: string, open: (id: string) => Promise<Omit<UploadSession, "id" | "lastUsed" | "caller">>): Promise<UploadSession> {
    if (this.sessions.size + this.opening >= this.maxSessions) {
      throw resourceExhausted(`too many uploads in progress (cap: ${this.maxSessions} in total); commit or abort some first`);
    }
    const mine = this.perCaller.get(caller) ?? 0;
    if (mine >= this.maxPerCaller) {
      throw resourceExhausted(`too many uploads in progress for ${caller} (cap: ${this.maxPerCaller} per caller); commit or abort some first`);
    }
    const id = randomBytes(16).toString("hex");
    this.perCaller.set(caller, mine + 1);
    this.opening++;
    try {
      const session: UploadSession = { ...(await open(id)), id, caller, lastUsed: Date.now() };
      this.sessions.set(id, session);
      return session;
    } catch (err) {
      this.uncount(caller);
      throw err;
    } finally {
      this.opening--;
    }
  }

  private uncount(caller: string): void {
    const n = (this.perCaller.get(caller) ?? 1) - 1;
    if (n > 0) this.perCaller.set(caller, n);
    else this.perCaller.delete(caller);
  }

  /**
   * Runs fn with exclusive use of the session named by id, after checking the
   * caller names the same container, path and identity as BeginUpload did.
   */
  async use<T>(id: string, name: ContainerName, path: string, owner: string, fn: (s: UploadSession) => Promise<T>): Promise<T> {
    const prior = this.locks.get(id) ?? Promise.resolve();
    const run = prior
      .catch(() => undefined)
      .then(async () => {
        const session = this.sessions.get(id);
        if (!session) throw notFound(`upload ${id || "(empty id)"} not found (finished, aborted or expired after ${this.idleTimeoutMs / 1000} s idle)`);
        if (session.container !== formatName(name) || session.path !== path) {
          throw invalidArgument(`upload ${id} belongs to ${session.container} ${session.path}, not ${formatName(name)} ${path}`);
        }
        if (session.owner !== owner) throw permissionDenied(`upload ${id} was begun by another identity`);
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
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    this.uncount(session.caller);
  }

  /** Aborts sessions idle for longer than the timeout; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    for (const session of [...this.sessions.values()]) {
      if (now - session.lastUsed < this.idleTimeoutMs || this.locks.has(session.id)) continue;
      this.delete(session.id);
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
