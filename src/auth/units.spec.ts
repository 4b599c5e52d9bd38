import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff.js";
import { hashPassword, parsePasswordHash, verifyPassword } from "./passwords.js";
import { parseScope, scopeAllows, scopeWithin } from "./scope.js";
import { TtlCache } from "./ttl-cache.js";

describe("passwords (scrypt, PHC format)", () => {
  it("hashes, verifies, rejects wrong passwords and plain text", async () => {
    const h = await hashPassword("correct horse", { ln: 10, r: 8, p: 1 });
    expect(h).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
    expect(await verifyPassword("correct horse", h)).toBe(true);
    expect(await verifyPassword("correct horsf", h)).toBe(false);
    expect(() => parsePasswordHash("hunter2")).toThrow(/plain-text passwords are not accepted/);
    expect(() => parsePasswordHash("$scrypt$ln=30,r=8,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")).toThrow(/out of range/);
  });
});

describe("Backoff", () => {
  it("free failures, then doubling lock-outs up to the max; forgotten later; success clears", () => {
    let now = 0;
    const b = new Backoff({ freeFailures: 2, baseMs: 100, maxMs: 300, forgetMs: 1000, now: () => now });
    b.fail("k");
    b.fail("k");
    expect(b.wait("k")).toBe(0);
    b.fail("k");
    expect(b.wait("k")).toBe(100);
    b.fail("k");
    expect(b.wait("k")).toBe(200);
    b.fail("k");
    b.fail("k");
    expect(b.wait("k")).toBe(300);
    now += 300;
    expect(b.wait("k")).toBe(0);
    b.fail("k");
    expect(b.wait("k")).toBe(300);
    now += 2000;
    b.fail("k"); // forgotten: counts from 1 again
    expect(b.wait("k")).toBe(0);
    b.succeed("k");
    b.fail("k");
    b.fail("k");
    expect(b.wait("k")).toBe(0);
  });

  it("is bounded", () => {
    const b = new Backoff({ freeFailures: 0, maxEntries: 3 });
    for (const k of ["a", "b", "c", "d"]) b.fail(k);
    expect(b.wait("a")).toBe(0);
    expect(b.wait("d")).toBeGreaterThan(0);
  });
});

describe("scopes", () => {
  const s = parseScope({ namespaces: ["a", "b"], pods: ["web-0"], verbs: ["get"] }, "t");
  it("allows only listed namespace, pod and verb", () => {
    expect(scopeAllows(s, "get", "a", "web-0")).toBe(true);
    expect(scopeAllows(s, "get", "c", "web-0")).toBe(false);
    expect(scopeAllows(s, "get", "a", "web-1")).toBe(false);
    expect(scopeAllows(s, "update", "a", "web-0")).toBe(false);
    expect(scopeAllows(parseScope({ namespaces: ["*"], verbs: ["*"] }, "t"), "delete", "x", "y")).toBe(true);
  });
  it("within", () => {
    const all = parseScope({ namespaces: ["a"], verbs: ["get", "create"] }, "t");
    expect(scopeWithin(parseScope({ namespaces: ["a"], pods: ["p"], verbs: ["get"] }, "t"), all)).toBe(true);
    expect(scopeWithin(parseScope({ namespaces: ["*"], verbs: ["get"] }, "t"), all)).toBe(false);
    expect(scopeWithin(s, parseScope({ namespaces: ["a", "b"], pods: ["web-1"], verbs: ["get"] }, "t"))).toBe(false);
    expect(scopeWithin(parseScope({ namespaces: ["a"], verbs: ["get"] }, "t"), s)).toBe(false); // all pods ⊄ web-0
  });
  it("rejects unknown verbs and empty lists", () => {
    expect(() => parseScope({ namespaces: ["a"], verbs: ["exec"] }, "t")).toThrow(/unknown verb "exec"/);
    expect(() => parseScope({ namespaces: [], verbs: ["get"] }, "t")).toThrow(/must not be empty/);
  });
});

describe("TtlCache", () => {
  it("expires and stays bounded", () => {
    let now = 0;
    const c = new TtlCache<number>(100, 2, () => now);
    c.set("a", 1);
    c.set("b", 2);
    c.set("c", 3);
    expect([c.get("a"), c.get("b"), c.get("c")]).toEqual([undefined, 2, 3]);
    now = 100;
    expect(c.get("b")).toBeUndefined();
  });
});
