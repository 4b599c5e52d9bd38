import { describe, expect, it } from "vitest";
import { globToRegExp } from "./name-glob.js";

const m = (glob: string, name: string) => globToRegExp(glob).test(name);

describe("globToRegExp (find -name)", () => {
  it("matches *, ? and whole names only", () => {
    expect(m("*.log", "app.log")).toBe(true);
    expect(m("*.log", "app.log.1")).toBe(false);
    expect(m("*", ".hidden")).toBe(true); // GNU find: * matches a leading dot
    expect(m("a?c", "abc")).toBe(true);
    expect(m("a?c", "ac")).toBe(false);
    expect(m("**x", "abx")).toBe(true);
  });

  it("treats regex characters as literals", () => {
    expect(m("a.c", "abc")).toBe(false);
    expect(m("a.c", "a.c")).toBe(true);
    expect(m("(x)+", "(x)+")).toBe(true);
    expect(m("$HOME|^", "$HOME|^")).toBe(true);
    expect(m("\\*", "*")).toBe(true);
    expect(m("\\*", "a")).toBe(false);
  });

  it("has bracket expressions: sets, ranges, negation, classes, literal ]", () => {
    expect(m("[abc].txt", "b.txt")).toBe(true);
    expect(m("[a-c]*", "cat")).toBe(true);
    expect(m("[!a-c]*", "cat")).toBe(false);
    expect(m("[^a-c]*", "dog")).toBe(true);
    expect(m("[]x]", "]")).toBe(true);
    expect(m("[[:digit:]][[:digit:]]", "42")).toBe(true);
    expect(m("[[:upper:]]*", "readme")).toBe(false);
    expect(m("[a-", "[a-")).toBe(true); // unclosed: literal
    expect(m("[\\]]", "]")).toBe(true);
  });

  it("matches names that are not ASCII, and newlines in names", () => {
    expect(m("é?", "éa")).toBe(true);
    expect(m("🙂*", "🙂x")).toBe(true);
    expect(m("a*b", "a\nb")).toBe(true);
  });

  it("refuses an out-of-order range and an overlong glob with INVALID_ARGUMENT", () => {
    expect(() => globToRegExp("[z-a]")).toThrow(/out of order/);
    expect(() => globToRegExp("a".repeat(2000))).toThrow(/longer than/);
  });
});
