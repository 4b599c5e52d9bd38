// Sizes, times, speeds and error texts as the page shows them.
import { PodfilesError, codeName } from "../web.js";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

export function formatBytes(n: number): string {
  let i = 0;
  while (n >= 1024 && i < UNITS.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${UNITS[i]}`;
}

export function formatTime(ms: number | undefined): string {
  if (ms === undefined) return "";
  const d = new Date(ms);
  const pad = (v: number) => String(v).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "–";
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.ceil(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

/** What a person reads for each status: the status name, what it means here, and the server's own words. */
const MEANING: Record<string, string> = {
  PERMISSION_DENIED: "Permission denied",
  UNAUTHENTICATED: "Not signed in, or the token is invalid or expired — sign in",
  NOT_FOUND: "Not found",
  ALREADY_EXISTS: "Already exists",
  INVALID_ARGUMENT: "Invalid request",
  FAILED_PRECONDITION: "Not possible here",
  RESOURCE_EXHAUSTED: "Out of space or over a limit",
  UNAVAILABLE: "The server cannot be reached",
  DEADLINE_EXCEEDED: "Timed out",
  CANCELLED: "Cancelled",
  DATA_LOSS: "Data corrupted in transit (SHA-256 or length mismatch)",
  ABORTED: "Interrupted by a concurrent change",
  UNIMPLEMENTED: "Not supported by this server",
  INTERNAL: "Server error",
  UNKNOWN: "Unexpected error",
  OUT_OF_RANGE: "Out of range",
};

export function describeError(err: unknown): { code: string; text: string } {
  const e = PodfilesError.from(err);
  const code = codeName(e.code);
  const meaning = MEANING[code] ?? code;
  return { code, text: `${meaning} (${code}): ${e.rawMessage}` };
}
