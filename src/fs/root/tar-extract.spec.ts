import { describe, expect, it } from "vitest";
import { memberPath, paxTime } from "./tar-extract.js";

describe("paxTime", () => {
  it("reads seconds and up to nine digits of fraction; anything else is no time", () => {
    expect(paxTime("1700000000.123456789")).toEqual({ seconds: 1_700_000_000n, nanos: 123_456_789 });
    expect(paxTime("1700000000.5")).toEqual({ seconds: 1_700_000_000n, nanos: 500_000_000 });
    expect(paxTime("1700000000.1234567891234")).toEqual({ seconds: 1_700_000_000n, nanos: 123_456_789 });
    expect(paxTime("1700000000")).toEqual({ seconds: 1_700_000_000n, nanos: 0 });
    for (const bad of [undefined, "", "x", "1.2.3", "1e9", " 1", "1.", "9".repeat(16)]) expect(paxTime(bad)).toBeUndefined();
  });
});

describe("memberPath", () => {
  it("keeps members inside the target directory", () => {
    expect(memberPath("/d", "a/b")).toBe("/d/a/b");
    expect(memberPath("/d", "/abs/x")).toBe("/d/abs/x");
    expect(() => memberPath("/d", "../x")).toThrow(/leaves the target directory/);
  });
});
