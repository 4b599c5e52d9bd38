// Names of upload temp files: `.NAME.podfiles-HEX.part` in the target's own directory. They stay
// within NAME_MAX (255 bytes, measured in UTF-8 bytes as the kernel counts them, not JS chars) for
// any target name, and the same pattern lets a later server recognise the ones a killed one left.
import { randomUUID } from "node:crypto";

const NAME_MAX = 255;
const HEX_CHARS = 12;
const SUFFIX = (hex: string) => `.podfiles-${hex}.part`;
/** "." + name + ".podfiles-" + 12 hex + ".part": 28 bytes besides the name. */
const OVERHEAD = 1 + Buffer.byteLength(SUFFIX("0".repeat(HEX_CHARS)));
const TEMP_NAME = /^\..*\.podfiles-[0-9a-f]{12}\.part$/s;

/** A fresh temp name for target `name`, at most 255 bytes. */
export function tempNameFor(name: string): string {
  // randomUUID draws from a cached pool of random bytes: randomBytes(6) per file was 21 µs each (2% of a small-file tar extraction)
  const uuid = randomUUID(); // its first 12 hex digits are random (the version digit comes after)
  return `.${truncateUtf8(name, NAME_MAX - OVERHEAD)}${SUFFIX(uuid.slice(0, 8) + uuid.slice(9, 13))}`;
}

/** Whether `name` follows the temp naming scheme (a leftover when no live upload holds it). */
export const isTempName = (name: string) => TEMP_NAME.test(name);

/** The longest prefix of s whose UTF-8 encoding fits in maxBytes, cut between characters. */
export function truncateUtf8(s: string, maxBytes: number): string {
  if (Buffer.byteLength(s) <= maxBytes) return s;
  let bytes = 0;
  let end = 0;
  for (const ch of s) {
    // code points: a surrogate pair is one character of 4 bytes, never split
    bytes += Buffer.byteLength(ch);
    if (bytes > maxBytes) break;
    end += ch.length;
  }
  return s.slice(0, end);
}
