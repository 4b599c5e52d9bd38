// File names are bytes; API strings are Unicode. A name that is not valid UTF-8 (a container may
// hold any bytes but "/" and NUL) travels in an escaped form that requests accept back, so such a
// file can be listed, downloaded, renamed and removed, and is never shown as another file.
//
// The form: every byte of an invalid UTF-8 sequence is written `\xNN` (two lowercase hex digits,
// NN ≥ 80: invalid sequences never contain ASCII), and every backslash `\\`. It is applied only to
// names that need it: invalid UTF-8, or valid names that already contain `\\` or `\x` + a byte
// ≥ 80 in hex (so that a file literally named `a\xff` and one named `a<0xff>` stay two names).
// Every other name, backslashes included (`C:\dir`), is shown as it is.
//
// Guarantee: pathFromWire(wireFromBytes(b)) gives back the bytes b for every name b. Out of scope:
// a request may also spell a name with escapes it did not need (`\x` is case-insensitive); it
// then means the same bytes, never anything else. "/", ".", ".." and NUL are never escaped, so
// path cleaning on the escaped form sees every separator and dot component as it really is.

const NEEDS_ESCAPE = /\\\\|\\x[89a-f][0-9a-f]/i;
const fatalUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The API string for a name (or a path) read from the filesystem as bytes. */
export function wireFromBytes(bytes: Uint8Array): string {
  let text: string | undefined;
  try {
    text = fatalUtf8.decode(bytes);
  } catch {
    text = undefined;
  }
  if (text !== undefined && !NEEDS_ESCAPE.test(text)) return text;
  return escapeBytes(bytes);
}

/**
 * The filesystem form of an API string: the string itself when it holds no escape (the common
 * case, and what node:fs takes), else the bytes it stands for.
 */
export function pathFromWire(wire: string): string | Buffer {
  if (!NEEDS_ESCAPE.test(wire)) return wire;
  const out: number[] = [];
  for (let i = 0; i < wire.length; ) {
    if (wire[i] === "\\" && wire[i + 1] === "\\") {
      out.push(0x5c);
      i += 2;
    } else if (wire[i] === "\\" && /^x[89a-f][0-9a-f]$/i.test(wire.slice(i + 1, i + 4))) {
      out.push(parseInt(wire.slice(i + 2, i + 4), 16));
      i += 4;
    } else {
      const cp = wire.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      for (const b of Buffer.from(ch, "utf8")) out.push(b);
      i += ch.length;
    }
  }
  return Buffer.from(out);
}

function escapeBytes(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const len = validSequenceLength(bytes, i);
    if (len === 0) {
      out += "\\x" + bytes[i]!.toString(16).padStart(2, "0");
      i += 1;
      continue;
    }
    const ch = Buffer.from(bytes.subarray(i, i + len)).toString("utf8");
    out += ch === "\\" ? "\\\\" : ch;
    i += len;
  }
  return out;
}

/** Length of the well-formed UTF-8 sequence starting at i (RFC 3629), or 0 when there is none. */
function validSequenceLength(b: Uint8Array, i: number): number {
  const b0 = b[i]!;
  if (b0 < 0x80) return 1;
  const cont = (k: number) => i + k < b.length && (b[i + k]! & 0xc0) === 0x80;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const b1 = b[i + 1]!;
    if (b0 === 0xe0 && b1 < 0xa0) return 0; // overlong
    if (b0 === 0xed && b1 >= 0xa0) return 0; // surrogates
    return 3;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const b1 = b[i + 1]!;
    if (b0 === 0xf0 && b1 < 0x90) return 0; // overlong
    if (b0 === 0xf4 && b1 >= 0x90) return 0; // above U+10FFFF
    return 4;
  }
  return 0;
}
