import { describe, expect, it } from "vitest";
import { DuTotals } from "./du-totals.js";

// The walk of /t: a.txt(10) d/(1) e/(1) | d: x(5) sub/(1) | d/sub: y(7) | e: (empty)
function walk(maxDepth: number) {
  const du = new DuTotals("/t", 1n, maxDepth);
  const out = [
    ...du.add("/t", "a.txt", false, 10n),
    ...du.add("/t", "d", true, 1n),
    ...du.add("/t", "e", true, 1n),
    ...du.add("/t/d", "x", false, 5n),
    ...du.add("/t/d", "sub", true, 1n),
    ...du.add("/t/d/sub", "y", false, 7n),
    ...du.finish(),
  ];
  return out.map((e) => [e.path, e.bytes, e.files, e.directories, e.depth]);
}

describe("DuTotals", () => {
  it("reports children before parents with totals of everything below", () => {
    expect(walk(0)).toEqual([
      ["/t/d/sub", 8n, 1n, 0n, 2],
      ["/t/d", 14n, 2n, 1n, 1],
      ["/t/e", 1n, 0n, 0n, 1],
      ["/t", 26n, 3n, 3n, 0],
    ]);
  });

  it("max depth limits what is reported, not what is counted", () => {
    expect(walk(1)).toEqual([
      ["/t/d", 14n, 2n, 1n, 1],
      ["/t/e", 1n, 0n, 0n, 1],
      ["/t", 26n, 3n, 3n, 0],
    ]);
  });

  it("reports an empty subdirectory skipped by the walk before a later sibling", () => {
    const du = new DuTotals("/", 0n, 0);
    const out = [...du.add("/", "a", true, 2n), ...du.add("/", "b", true, 3n), ...du.add("/b", "f", false, 4n), ...du.finish()];
    expect(out.map((e) => [e.path, e.bytes])).toEqual([
      ["/a", 2n],
      ["/b", 7n],
      ["/", 9n],
    ]);
  });
});
