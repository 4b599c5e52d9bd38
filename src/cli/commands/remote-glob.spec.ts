import { describe, expect, it } from "vitest";
import { globRegExp, hasGlob } from "./remote-glob.js";

describe("remote wildcards", () => {
  it("match as sh does within one component", () => {
    const m = (p: string, name: string) => globRegExp(p).test(name);
    expect(m("*.log", "app.log")).toBe(true);
    expect(m("*.log", "app.log.1")).toBe(false);
    expect(m("app.?", "app.1")).toBe(true);
    expect(m("app.?", "app.10")).toBe(false);
    expect(m("[ab]*", "beta")).toBe(true);
    expect(m("[!ab]*", "beta")).toBe(false);
    expect(m("[!ab]*", "gamma")).toBe(true);
    expect(m("a+b(c)", "a+b(c)")).toBe(true);
    expect(m("a.b", "axb")).toBe(false);
    expect(m("[x", "[x")).toBe(true);
  });

  it("hasGlob finds *, ? and [", () => {
    expect(hasGlob("/var/log/*.log")).toBe(true);
    expect(hasGlob("/var/log/app.log")).toBe(false);
  });
});
