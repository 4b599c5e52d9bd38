import { describe, expect, it } from "vitest";
import type { Entry } from "./container-fs.js";
import { compileFindFilter, compilePathRegex, relativeTo } from "./find-filter.js";

const entry = (path: string, over: Partial<Entry> = {}): Entry => ({
  name: path.slice(path.lastIndexOf("/") + 1),
  path,
  type: "regular",
  size: 100n,
  mode: 0o100644,
  uid: 0,
  gid: 0,
  user: "",
  group: "",
  mtimeMs: 1_000_000,
  nlink: 1,
  ...over,
});

describe("compileFindFilter", () => {
  it("combines glob, regex, type, size and mtime", () => {
    const f = compileFindFilter({
      nameGlob: "*.log",
      pathRegex: "^var/",
      types: ["regular"],
      minSize: 10n,
      maxSize: 1000n,
      modifiedAfterMs: 500_000,
      maxDepth: 0,
      limit: 0,
    });
    expect(f.matches(entry("/var/app.log"), "var/app.log")).toBe(true);
    expect(f.matches(entry("/var/app.txt"), "var/app.txt")).toBe(false);
    expect(f.matches(entry("/etc/app.log"), "etc/app.log")).toBe(false);
    expect(f.matches(entry("/var/app.log", { type: "directory" }), "var/app.log")).toBe(false);
    expect(f.matches(entry("/var/app.log", { size: 5n }), "var/app.log")).toBe(false);
    expect(f.matches(entry("/var/app.log", { size: 5000n }), "var/app.log")).toBe(false);
    expect(f.matches(entry("/var/app.log", { mtimeMs: 100 }), "var/app.log")).toBe(false);
  });

  it("modified_before is strict", () => {
    const f = compileFindFilter({ modifiedBeforeMs: 1_000_000, maxDepth: 0, limit: 0 });
    expect(f.matches(entry("/a"), "a")).toBe(false);
    expect(f.matches(entry("/a", { mtimeMs: 999_999 }), "a")).toBe(true);
  });

  it("refuses min_size above max_size", () => {
    expect(() => compileFindFilter({ minSize: 10n, maxSize: 1n, maxDepth: 0, limit: 0 })).toThrow(/larger than/);
  });
});

describe("compilePathRegex", () => {
  it("refuses invalid, backtracking-only and overlong patterns with INVALID_ARGUMENT", () => {
    expect(() => compilePathRegex("(")).toThrow(expect.objectContaining({ kind: "invalid-argument" }));
    expect(() => compilePathRegex("(a)\\1")).toThrow(/linear time/);
    expect(() => compilePathRegex("a".repeat(2000))).toThrow(/longer than/);
  });

  it("runs a catastrophic pattern in linear time", () => {
    const r = compilePathRegex("(a+)+$");
    const started = performance.now();
    expect(r.test(`${"a".repeat(4000)}b`)).toBe(false);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

it("relativeTo", () => {
  expect(relativeTo("/", "/a/b")).toBe("a/b");
  expect(relativeTo("/x", "/x/a/b")).toBe("a/b");
});
