// Find's tests on one entry (name glob, path regex, type, size, mtime), shared by every
// ContainerFs. The path regex is caller input run against every path of a tree, so it is compiled
// for V8's linear-time engine (the `l` flag): measured here, /(a+)+$/ on "a"×26+"b" took 1,028 ms
// with the backtracking engine (doubling with each character) and 0.03 ms with `l`; a regex that
// engine cannot run (backreferences, lookaround) is refused with INVALID_ARGUMENT.
import * as v8 from "node:v8";
import type { Entry, FindOptions } from "./container-fs.js";
import { failedPrecondition, invalidArgument } from "../errors.js";
import { globToRegExp } from "./name-glob.js";

/** Longest path_regex accepted: one for a path needs no more, and compiling is linear in it. */
export const MAX_REGEX_LENGTH = 1024;

// The `l` flag is behind this V8 flag on Node 20-24; it changes nothing for regexes without `l`.
v8.setFlagsFromString("--enable-experimental-regexp-engine");

/** The path regex compiled for the linear-time engine; INVALID_ARGUMENT when it is not valid there. */
export function compilePathRegex(source: string): RegExp {
  if (source.length > MAX_REGEX_LENGTH) throw invalidArgument(`path_regex is longer than ${MAX_REGEX_LENGTH} characters`);
  try {
    return new RegExp(source, "l"); // `u` and `i` cannot be combined with `l` (V8 refuses them)
  } catch (err) {
    const message = (err as Error).message;
    if (/Invalid flags/i.test(message)) throw failedPrecondition("path_regex needs V8's linear-time regexp engine, which this server's Node.js lacks");
    const why = /linear time/.test(message)
      ? "backreferences and lookaround are not supported (the match must run in linear time)"
      : message.replace(/^Invalid regular expression: /, "");
    throw invalidArgument(`path_regex ${JSON.stringify(source)}: ${why}`);
  }
}

export interface FindFilter {
  /** True when the entry (at `relative`, its path below the top without a leading slash) matches. */
  matches(entry: Entry, relative: string): boolean;
}

/** Compiles the options once (throwing INVALID_ARGUMENT on bad input) before any walk starts. */
export function compileFindFilter(options: FindOptions): FindFilter {
  const glob = options.nameGlob ? globToRegExp(options.nameGlob) : undefined;
  const regex = options.pathRegex ? compilePathRegex(options.pathRegex) : undefined;
  const types = options.types?.length ? new Set(options.types) : undefined;
  const { minSize, maxSize, modifiedAfterMs, modifiedBeforeMs } = options;
  if (minSize !== undefined && maxSize !== undefined && minSize > maxSize) throw invalidArgument(`min_size ${minSize} is larger than max_size ${maxSize}`);
  if (options.maxDepth < 0 || options.limit < 0) throw invalidArgument("max_depth and limit are counts");
  return {
    matches(entry, relative) {
      if (types && !types.has(entry.type)) return false;
      if (minSize !== undefined && entry.size < minSize) return false;
      if (maxSize !== undefined && entry.size > maxSize) return false;
      if (modifiedAfterMs !== undefined && !(entry.mtimeMs > modifiedAfterMs)) return false;
      if (modifiedBeforeMs !== undefined && !(entry.mtimeMs < modifiedBeforeMs)) return false;
      if (glob && !glob.test(entry.name)) return false;
      if (regex) {
        regex.lastIndex = 0;
        if (!regex.test(relative)) return false;
      }
      return true;
    },
  };
}

/** The path below `top` ("a/b" for /top/a/b), as the regex sees it. */
export const relativeTo = (top: string, path: string): string => (top === "/" ? path.slice(1) : path.slice(top.length + 1));
