// One command run in a container through the pods/exec subresource over WebSocket (the Kubernetes
// "channel" protocol: every binary message starts with a stream byte — 0 stdin, 1 stdout,
// 2 stderr, 3 status, 255 close). argv goes as `command=` query parameters, one per argument:
// no shell ever sees a path. client-node's own Exec was not reused: it writes every stdin chunk
// without waiting (ws.send in a 'data' handler) and pushes stdout into a stream without pausing
// the socket, so a slow consumer or a fast producer buffers without bound; here stdout pauses
// the socket above OUT_HIGH and stdin writes wait while ws.bufferedAmount is above IN_HIGH.
//
// `v5.channel.k8s.io` (Kubernetes ≥ 1.30 over WebSocket) can close stdin (message [255, 0]);
// with v4 stdin can only end by closing the whole socket, which loses the exit status, so
// commands that need stdin EOF refuse to run on v4 (ExecProcess.canCloseStdin).
import WebSocket, { type ClientOptions } from "ws";
import { unavailable } from "../../errors.js";

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const STATUS = 3;
export const CLOSE = 255;

export const PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/** One argument: a string (sent as UTF-8) or the exact bytes of a path that is not valid UTF-8. */
export type Arg = string | Uint8Array;

/** Percent-encodes the bytes of an argument for a query string (every byte but unreserved ones). */
export function encodeArg(arg: Arg): string {
  const bytes = typeof arg === "string" ? Buffer.from(arg, "utf8") : arg;
  let out = "";
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Where an exec goes: the URL for argv and the socket options (TLS, bearer token) to use. */
export interface ExecDialer {
  /** The wss:// URL that runs argv (stdin attached when `stdin`) in the container. */
  url(argv: readonly Arg[], stdin: boolean): string;
  /** TLS and auth for the handshake of the exec `url(argv, stdin)` names; read per call so refreshed tokens are used. */
  options(stdin: boolean): Promise<ClientOptions>;
  /** For messages: "pod ns/name container c". */
  readonly description: string;
  /** For messages: who answers the exec `url(argv, stdin)` names (default "the API server"). */
  answeredBy?(stdin: boolean): string;
}

/** The exec URL path the API server serves for a pod's container. */
export function apiServerExecUrl(server: string, namespace: string, pod: string, container: string, argv: readonly Arg[], stdin: boolean): string {
  const base = server.replace(/^http/, "ws").replace(/\/+$/, "");
  const q = new URLSearchParams({ container, stdout: "true", stderr: "true", stdin: String(stdin) }).toString();
  const command = argv.map((a) => `&command=${encodeArg(a)}`).join("");
  return `${base}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec?${q}${command}`;
}

/**
 * The exec URL a kubelet serves itself (`/exec/<namespace>/<pod>/<container>`, the path the API
 * server proxies to; its own query names: input, output, error). `base` is https://host:port.
 */
export function kubeletExecUrl(base: string, namespace: string, pod: string, container: string, argv: readonly Arg[], stdin: boolean): string {
  const root = base.replace(/^http/, "ws").replace(/\/+$/, "");
  const q = `output=1&error=1&input=${stdin ? 1 : 0}`;
  const command = argv.map((a) => `&command=${encodeArg(a)}`).join("");
  const seg = encodeURIComponent;
  return `${root}/exec/${seg(namespace)}/${seg(pod)}/${seg(container)}?${q}${command}`;
}

/** How a command ended, from the status channel. */
export interface ExecResult {
  /** 0 on success; the exit code when it exited non-zero; -1 when it never ran or the status says no code. */
  exitCode: number;
  /** The status message (e.g. `exec: "tar": executable file not found in $PATH`), "" on success. */
  message: string;
  /** What the command wrote to stderr (first STDERR_MAX bytes). */
  stderr: string;
  /** The command could not be started because the executable does not exist in the image. */
  notFound: boolean;
}

/** Unread stdout held before the socket is paused. */
const OUT_HIGH = 4 * 1024 * 1024;
/** stdin bytes queued in the socket before write() waits. */
const IN_HIGH = 4 * 1024 * 1024;
const STDERR_MAX = 16 * 1024;
const NOT_FOUND = /executable file not found|no such file or directory|not found in \$PATH/i;

/** A V1Status from the status channel → ExecResult fields. */
export function parseStatus(text: string): { exitCode: number; message: string; notFound: boolean } {
  let status: { status?: string; message?: string; reason?: string; details?: { causes?: { reason?: string; message?: string }[] } };
  try {
    status = JSON.parse(text) as typeof status;
  } catch {
    return { exitCode: -1, message: `unreadable exec status: ${text.slice(0, 200)}`, notFound: false };
  }
  if (status.status === "Success") return { exitCode: 0, message: "", notFound: false };
  const message = status.message ?? "";
  const code = status.details?.causes?.find((c) => c.reason === "ExitCode")?.message;
  if (status.reason === "NonZeroExitCode" && code !== undefined && /^\d+$/.test(code)) return { exitCode: Number(code), message, notFound: false };
  return { exitCode: -1, message, notFound: NOT_FOUND.test(message) };
}

export class ExecProcess {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private outEnded = false;
  private outError: Error | undefined;
  private wake: (() => void) | undefined;
  private stderrText = "";
  private result: ExecResult | undefined;
  private readonly drainWaiters: (() => void)[] = [];
  private drainTimer: NodeJS.Timeout | undefined;
  private discardingOut = false;
  /** Resolves when the socket has closed, with the status the server sent (or a failure). */
  readonly done: Promise<ExecResult>;

  private constructor(
    private readonly ws: WebSocket,
    private readonly what: string,
  ) {
    this.done = new Promise((resolve) => {
      ws.on("message", (data: Buffer) => this.onMessage(data));
      ws.on("error", (err) => this.fail(err));
      ws.on("close", () => {
        this.outEnded = true;
        this.flushWaiters();
        this.wake?.();
        resolve(
          this.result ?? {
            exitCode: -1,
            message: this.outError?.message ?? `${what}: the exec connection closed without a status`,
            stderr: this.stderrText,
            notFound: false,
          },
        );
      });
    });
  }

  /** Opens the exec; rejects UNAVAILABLE (naming the HTTP status and the API's message) when the handshake fails. */
  static async start(dialer: ExecDialer, argv: readonly Arg[], opts: { stdin?: boolean; signal?: AbortSignal } = {}): Promise<ExecProcess> {
    const url = dialer.url(argv, opts.stdin ?? false);
    const what = `${String(argv[0])} in ${dialer.description}`;
    const ws = new WebSocket(url, PROTOCOLS, { ...(await dialer.options(opts.stdin ?? false)), perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        ws.terminate();
        reject(Object.assign(new Error("call cancelled"), { name: "AbortError" }));
      };
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      ws.once("open", () => {
        opts.signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body = (body + c).slice(0, 2000)));
        res.on("end", () => {
          let msg = body;
          try {
            msg = (JSON.parse(body) as { message?: string }).message ?? body;
          } catch {
            /* not a Status */
          }
          reject(
            unavailable(`exec of ${what} refused by ${dialer.answeredBy?.(opts.stdin ?? false) ?? "the API server"} (HTTP ${res.statusCode}): ${msg.trim()}`),
          );
          ws.terminate();
        });
      });
      ws.once("error", (err) => reject(unavailable(`exec of ${what} failed: ${err.message}`, err)));
    });
    const proc = new ExecProcess(ws, what);
    opts.signal?.addEventListener("abort", () => proc.kill(), { once: true });
    return proc;
  }

  /** Whether stdin can be closed on its own (v5); without it a command must not wait for EOF. */
  get canCloseStdin(): boolean {
    return this.ws.protocol === "v5.channel.k8s.io";
  }

  private onMessage(data: Buffer): void {
    if (data.length === 0) return;
    const stream = data[0];
    const body = data.subarray(1);
    if (stream === STDOUT) {
      if (body.length === 0 || this.discardingOut) return;
      this.queue.push(body);
      this.queued += body.length;
      if (this.queued > OUT_HIGH) this.ws.pause();
      this.wake?.();
    } else if (stream === STDERR) {
      if (this.stderrText.length < STDERR_MAX) this.stderrText += body.toString("utf8").slice(0, STDERR_MAX - this.stderrText.length);
    } else if (stream === STATUS) {
      this.result = { ...parseStatus(body.toString("utf8")), stderr: this.stderrText };
    }
  }

  private fail(err: Error): void {
    this.outError ??= err;
    this.wake?.();
  }

  /**
   * stdout, chunk by chunk; the socket is paused while more than OUT_HIGH bytes wait here. With
   * `coalesceTo`, the messages already waiting are handed over as one chunk of up to that size
   * (never waiting for more): the API server sends stdout in frames of a few KiB, and a consumer
   * that forwards each as a message of its own spends its time on per-message work.
   */
  async *stdout(coalesceTo = 0): AsyncGenerator<Buffer> {
    for (;;) {
      let chunk = this.queue.shift();
      if (chunk && coalesceTo > chunk.length && this.queue.length > 0) {
        const parts = [chunk];
        let n = chunk.length;
        while (this.queue.length > 0 && n + this.queue[0]!.length <= coalesceTo) {
          const next = this.queue.shift()!;
          parts.push(next);
          n += next.length;
        }
        chunk = parts.length > 1 ? Buffer.concat(parts, n) : chunk;
      }
      if (chunk) {
        this.queued -= chunk.length;
        if (this.queued <= OUT_HIGH / 2 && this.ws.isPaused) this.ws.resume();
        yield chunk;
        continue;
      }
      if (this.outEnded) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  /** All of stdout (for small outputs: listings, stat lines); throws past `max` bytes. */
  async readAll(max: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let n = 0;
    for await (const c of this.stdout()) {
      n += c.length;
      if (n > max) {
        this.kill();
        throw new Error(`${this.what}: output larger than ${max} bytes`);
      }
      parts.push(c);
    }
    return Buffer.concat(parts);
  }

  /** Sends a stdin chunk; resolves once the socket's send buffer is below IN_HIGH. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.ws.readyState !== WebSocket.OPEN) throw new Error(`${this.what}: the exec connection is closed`);
    const frame = Buffer.allocUnsafe(chunk.length + 1);
    frame[0] = STDIN;
    frame.set(chunk, 1);
    this.ws.send(frame);
    while (this.ws.bufferedAmount > IN_HIGH && this.ws.readyState === WebSocket.OPEN) await this.drained();
  }

  private drained(): Promise<void> {
    // ws has no 'drain' event: its socket has one, and bufferedAmount is polled at most every 5 ms
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.drainTimer ??= setInterval(() => {
        if (this.ws.bufferedAmount <= IN_HIGH / 2 || this.ws.readyState !== WebSocket.OPEN) this.flushWaiters();
      }, 5);
    });
  }

  private flushWaiters(): void {
    if (this.drainTimer) clearInterval(this.drainTimer);
    this.drainTimer = undefined;
    for (const w of this.drainWaiters.splice(0)) w();
  }

  /** Closes stdin (v5 close message); the command sees EOF. */
  closeStdin(): void {
    if (!this.canCloseStdin) throw new Error(`${this.what}: the API server offers no v5.channel.k8s.io, stdin cannot be closed`);
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(Buffer.from([CLOSE, STDIN]));
  }

  /**
   * Ends the command and resolves once it has exited: stdin is closed (v5), so the command sees
   * EOF and finishes, and the connection is cut only after `graceMs` (a command stuck on a hung
   * mount). kill() alone returns while the command may still be running, or not yet started: runc
   * starts it some tens of ms after the socket opens, and a command started after the connection
   * was cut still runs, with an empty stdin. Cleanup that ran after kill() raced it: an aborted
   * upload's temp file came back (CI, execfs.spec: a wrong digest left `.podfiles-exec-….part`).
   */
  async finish(graceMs: number): Promise<ExecResult> {
    if (this.canCloseStdin && this.ws.readyState === WebSocket.OPEN) {
      this.closeStdin();
      // stdout must keep flowing (dropped from now on), or a command with output to write never exits
      this.discardingOut = true;
      this.queue.length = 0;
      this.queued = 0;
      if (this.ws.isPaused) this.ws.resume();
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
      await Promise.race([this.done, graceOver]);
      clearTimeout(timer);
    }
    this.kill();
    return this.done;
  }

  /** Ends the exec now (the command gets a closed stdin / hangup); done still resolves. */
  kill(): void {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.terminate();
  }

  get exitResult(): ExecResult | undefined {
    return this.result;
  }
}
