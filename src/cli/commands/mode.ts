import { UsageError } from "./errors.js";

/** "644", "0644", "0o644" → 0o644; refuses anything beyond 07777. */
export function parseMode(text: string): number {
  const m = /^(?:0o?)?([0-7]{1,4})$/.exec(text.trim());
  if (!m) throw new UsageError(`--mode ${text}: not an octal mode like 0644`);
  return parseInt(m[1]!, 8);
}
