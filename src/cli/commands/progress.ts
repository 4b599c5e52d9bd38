// Transfer progress on stderr: a cli-progress bar when stderr is a terminal,
// nothing at all otherwise (pipes, files, CI logs). cli-progress loads only then.
import { createRequire } from "node:module";

export interface Progress {
  /** Bytes transferred so far. */
  set(bytes: number): void;
  stop(): void;
}

const silent: Progress = { set() {}, stop() {} };

export function humanBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

export interface ProgressOptions {
  /** false with --no-progress */
  enabled?: boolean;
  stream?: NodeJS.WriteStream;
}

export function createProgress(label: string, total: number | undefined, o: ProgressOptions = {}): Progress {
  const stream = o.stream ?? process.stderr;
  if (o.enabled === false || !stream.isTTY) return silent;
  const cliProgress = createRequire(import.meta.url)("cli-progress") as typeof import("cli-progress");
  let done = 0;
  const started = Date.now();
  const payload = () => {
    const secs = Math.max((Date.now() - started) / 1000, 0.001);
    return { label, doneh: humanBytes(done), totalh: total === undefined ? "?" : humanBytes(total), speed: `${humanBytes(done / secs)}/s` };
  };
  const format =
    total === undefined
      ? "{label} {doneh} | {speed} | {duration_formatted}"
      : "{label} [{bar}] {percentage}% | {doneh}/{totalh} | {speed} | ETA {eta_formatted}";
  const bar = new cliProgress.SingleBar(
    { format, stream, hideCursor: true, clearOnComplete: false, fps: 10, etaBuffer: 50, barsize: 30 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0, payload());
  return {
    set(bytes) {
      done = bytes;
      bar.update(done, payload());
    },
    stop() {
      bar.update(done, payload());
      bar.stop();
    },
  };
}
