// Sizes and times as find and du spell them: "10k", "1.5M", "2G" (powers of 1024); ages "30s",
// "15m", "2h", "7d" or a date; du -h's "4.0K", "1.2M".
import { UsageError } from "./errors.js";

const UNITS = ["", "K", "M", "G", "T", "P"];

/** "1500", "10k", "1.5M" → bytes; UsageError naming the flag otherwise. */
export function parseSize(text: string, flag: string): bigint {
  const m = /^(\d+(?:\.\d+)?)([kmgtp]?)(i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${flag} ${text}: not a size (e.g. 512, 10k, 1.5M, 2G)`);
  const power = UNITS.indexOf(m[2]!.toUpperCase());
  return BigInt(Math.round(Number(m[1]) * 1024 ** power));
}

/** An age ("90s", "15m", "2h", "7d", "1w") before `now`, or an ISO date → ms since the epoch. */
export function parseTime(text: string, flag: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text.trim());
  if (m) return now - Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 604800e3 }[m[2] as "s"];
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new UsageError(`${flag} ${text}: not an age (90s, 15m, 2h, 7d) or a date (2026-11-30T12:00:00Z)`);
  return t;
}

/** du -h: one decimal below 10 (rounded up, as du does), none above; "0" for zero. */
export function humanSize(bytes: bigint): string {
  let n = Number(bytes);
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit++;
  }
  if (unit === 0) return String(n);
  const shown = n < 10 ? Math.ceil(n * 10) / 10 : Math.ceil(n);
  if (shown >= 1024 && unit < UNITS.length - 1) return `1.0${UNITS[unit + 1]}`;
  return `${n < 10 ? shown.toFixed(1) : shown}${UNITS[unit]}`;
}

/** A non-negative integer flag value, or UsageError. */
export function count(text: string | undefined, flag: string, fallback = 0): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new UsageError(`${flag} ${text}: not a count`);
  return n;
}
