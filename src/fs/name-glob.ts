// `find -name` globs: fnmatch(3) without flags, on one base name. `*` is any run of characters
// (a leading dot too, as GNU find matches it), `?` one character, `[...]` a bracket expression
// (`!` or `^` negates, ranges, [:alpha:]-style classes), `\` quotes the next character; a `[`
// with no closing `]` is literal. Written here rather than taken from picomatch: picomatch is no
// runtime dependency, and its braces, extglobs and leading-`!` negation are not what find does.
// The result is a RegExp with no nested quantifier (linear to match).
import { invalidArgument } from "../errors.js";

/** Longest glob accepted (a base name is at most 255 bytes; a glob longer than this is a mistake). */
export const MAX_GLOB_LENGTH = 1024;

const classes: Record<string, string> = {
  alpha: "\\p{L}",
  digit: "0-9",
  alnum: "\\p{L}\\p{Nd}",
  upper: "\\p{Lu}",
  lower: "\\p{Ll}",
  space: "\\s",
  punct: "\\p{P}\\p{S}",
  xdigit: "0-9A-Fa-f",
};

const lit = (ch: string) => `\\u{${ch.codePointAt(0)!.toString(16)}}`;

/** The glob as an anchored RegExp over a whole base name; INVALID_ARGUMENT when it cannot be one. */
export function globToRegExp(glob: string): RegExp {
  if (glob.length > MAX_GLOB_LENGTH) throw invalidArgument(`name_glob is longer than ${MAX_GLOB_LENGTH} characters`);
  const chars = Array.from(glob);
  let out = "";
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "*") {
      if (!out.endsWith(".*")) out += ".*"; // `**` is `*`: no two quantifiers in a row
    } else if (c === "?") out += ".";
    else if (c === "\\" && i + 1 < chars.length) out += lit(chars[++i]!);
    else if (c === "[") {
      const parsed = bracket(chars, i + 1);
      if (parsed) {
        out += parsed.re;
        i = parsed.end;
      } else out += lit(c);
    } else out += lit(c);
  }
  try {
    return new RegExp(`^${out}$`, "su");
  } catch (err) {
    throw invalidArgument(`name_glob ${JSON.stringify(glob)}: ${(err as Error).message.replace(/^Invalid regular expression: /, "")}`);
  }
}

/** The bracket expression starting after `[` at `start`: its RegExp class and the index of its `]`, or undefined when unclosed. */
function bracket(chars: string[], start: number): { re: string; end: number } | undefined {
  let i = start;
  let negate = false;
  if (chars[i] === "!" || chars[i] === "^") {
    negate = true;
    i++;
  }
  let body = "";
  let first = true;
  for (; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "]" && !first) return { re: `[${negate ? "^" : ""}${body}]`, end: i };
    first = false;
    if (c === "[" && chars[i + 1] === ":") {
      const close = chars.indexOf(":", i + 2);
      const name = close > 0 && chars[close + 1] === "]" ? chars.slice(i + 2, close).join("") : undefined;
      if (name !== undefined && classes[name]) {
        body += classes[name];
        i = close + 1;
        continue;
      }
    }
    const ch = c === "\\" && i + 1 < chars.length ? chars[++i]! : c;
    if (chars[i + 1] === "-" && i + 2 < chars.length && chars[i + 2] !== "]") {
      const to = chars[i + 2] === "\\" && i + 3 < chars.length ? chars[i + 3]! : chars[i + 2]!;
      if (ch.codePointAt(0)! > to.codePointAt(0)!) throw invalidArgument(`name_glob: the range ${ch}-${to} is out of order`);
      body += `${lit(ch)}-${lit(to)}`;
      i += chars[i + 2] === "\\" ? 3 : 2;
    } else body += lit(ch);
  }
  return undefined;
}
