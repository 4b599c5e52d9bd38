// Uploads through exec: `dd of=<temp>` in the target's directory reads the data from stdin
// (stdin closed with the v5 close message, so dd sees EOF and exits with its status); commit checks
// the temp file holds every byte sent, sets its mode (and owner when asked), then renames it into
// place (`mv -f -T`, or `ln` + `rm` for a no-replace create: link(2) fails instead of replacing). A
// failed or cancelled upload ends the exec and, once dd has exited (ExecProcess.finish), removes
// the temp file: the target never holds half a file. APPEND writes into the target itself
// (`conv=notrunc oflag=append`) after checking its size.
//
// dd runs under a constant `sh -c` script with the path as "$1" (never spliced into the script):
// measured on containerd 2 (this repo's cluster), an exec whose process closes its stdout — dd
// moves of= onto fd 1, `sh -c 'cat > f'` execs cat with fd 1 redirected — gets its stdin closed
// by the runtime after the first few messages (a 5 MB upload left 32–256 KiB, exit 0). The shell
// stays the exec's process and keeps fd 1 open until dd is done, then prints "ok".
import type { Entry, FileTime, FileWriter, WriteOptions } from "../container-fs.js";
import { dataLoss, failedPrecondition, targetExists } from "../../errors.js";
import { claimTarget, type TargetClaim } from "../root/target-claims.js";
import type { ExecProcess } from "./exec-channel.js";
import { pathArg, type ExecRunner } from "./exec-runner.js";

/** What a writer uses of its ExecFs. */
export interface WriterHost {
  readonly description: string;
  readonly run: ExecRunner;
  stat(path: string, options: { followSymlinks: boolean }): Promise<Entry>;
}

/**
 * touch's argv for a time: whole seconds as a UTC date, the one form both busybox's touch and GNU
 * touch take (busybox 1.35 refuses `-d @SECONDS` and fractions: measured in this repo's cluster).
 */
export function touchArgv(time: FileTime, path: string): (string | Uint8Array)[] {
  const date = new Date(Number(time.seconds) * 1000).toISOString().slice(0, 19).replace("T", " ");
  return ["env", "TZ=UTC0", "touch", "-c", "-d", date, "--", pathArg(path)];
}

/**
 * How long an aborted upload's dd may take to see EOF and exit before its connection is cut: it
 * has only the data already sent to write (at most the exec channel's 4 MiB send buffer).
 */
const ABORT_GRACE_MS = 10_000;

export class ExecWriter implements FileWriter {
  written = 0n;
  private finished = false;

  private constructor(
    private readonly fs: WriterHost,
    private readonly target: string,
    private readonly temp: string,
    private readonly options: WriteOptions & { mode: number },
    private readonly append: boolean,
    private readonly proc: ExecProcess,
    private readonly claim: TargetClaim,
  ) {}

  static async open(fs: WriterHost, target: string, temp: string, options: WriteOptions & { mode: number }, append: boolean): Promise<ExecWriter> {
    const claim = claimTarget(target, [`exec:${fs.description}:${target}`], options.holder ?? "an upload");
    try {
      const dd = `dd bs=262144 ${append ? "oflag=append conv=notrunc,fsync" : "conv=fsync"} of="$1"`;
      const argv = ["sh", "-c", `${dd} && echo ok`, "sh", pathArg(temp)];
      const proc = await fs.run.start(argv, { purpose: "upload", stdin: true });
      if (!proc.canCloseStdin) {
        proc.kill();
        throw failedPrecondition("uploads through exec need v5.channel.k8s.io (Kubernetes ≥ 1.30) to close stdin");
      }
      return new ExecWriter(fs, target, temp, options, append, proc, claim);
    } catch (err) {
      claim.release();
      throw err;
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.written += BigInt(chunk.length);
    await this.proc.write(chunk);
  }

  /** Everything accepted has left this process (dd's own progress is not visible through exec). */
  async flush(): Promise<void> {
    if (this.proc.exitResult) this.fs.run.check(this.proc.exitResult, "sh", "upload");
  }

  async commit(): Promise<Entry> {
    try {
      this.proc.closeStdin();
      await this.proc.readAll(1 << 20);
      this.fs.run.check(await this.proc.done, "sh", "upload");
      const { size } = await this.fs.stat(this.temp, { followSymlinks: false });
      const expected = this.append ? this.options.offset + this.written : this.written;
      if (size !== expected) throw dataLoss(`${this.target}: ${size} bytes reached the container, ${expected} were sent`);
      const run = (argv: (string | Uint8Array)[]) => this.fs.run.output(argv, { purpose: "upload" });
      if (!this.append || this.options.mode !== undefined) {
        // owner before mode: chown(2) clears setuid/setgid, which --allow-setid must be able to keep
        if (this.options.uid !== undefined || this.options.gid !== undefined)
          await run(["chown", `${this.options.uid ?? ""}:${this.options.gid ?? ""}`, "--", pathArg(this.temp)]);
        await run(["chmod", (this.options.mode & 0o7777).toString(8), "--", pathArg(this.temp)]);
      }
      if (this.options.modifiedTime) await run(touchArgv(this.options.modifiedTime, this.temp));
      if (!this.append) {
        if (this.options.overwrite === "overwrite") {
          await run(["mv", "-f", "-T", "--", pathArg(this.temp), pathArg(this.target)]);
        } else {
          await run(["ln", "--", pathArg(this.temp), pathArg(this.target)]).catch((err: NodeJS.ErrnoException) => {
            if (err.code === "EEXIST") throw targetExists(this.target);
            throw err;
          });
          await run(["rm", "-f", "--", pathArg(this.temp)]);
        }
      }
      this.finished = true;
      return await this.fs.stat(this.target, { followSymlinks: false });
    } catch (err) {
      await this.abort();
      throw err;
    } finally {
      this.claim.release();
    }
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.proc.finish(ABORT_GRACE_MS);
    if (!this.append) await this.fs.run.output(["rm", "-f", "--", pathArg(this.temp)], { purpose: "upload cleanup" }).catch(() => undefined);
    else
      await this.fs.run
        .output(["truncate", "-s", String(this.options.offset), "--", pathArg(this.target)], { purpose: "upload cleanup" })
        .catch(() => undefined);
    this.claim.release();
  }
}
