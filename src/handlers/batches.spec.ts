import { describe, expect, it } from "vitest";
import { inBatches } from "./batches.js";

async function* slow(items: number[], gapMs: (i: number) => number) {
  for (let i = 0; i < items.length; i++) {
    await new Promise((r) => setTimeout(r, gapMs(i)));
    yield items[i]!;
  }
}

describe("inBatches", () => {
  it("cuts at max items", async () => {
    const out: number[][] = [];
    for await (const b of inBatches(
      slow([1, 2, 3, 4, 5], () => 0),
      2,
      1000,
    ))
      out.push(b);
    expect(out).toEqual([[1, 2], [3, 4], [5]]);
  });

  it("sends a waiting item after flushAfterMs while the source is still busy", async () => {
    const started = Date.now();
    const seen: Array<[number[], number]> = [];
    for await (const b of inBatches(
      slow([1, 2], (i) => (i === 0 ? 0 : 400)),
      100,
      50,
    ))
      seen.push([b, Date.now() - started]);
    expect(seen.map(([b]) => b)).toEqual([[1], [2]]);
    expect(seen[0]![1]).toBeLessThan(300);
  });

  it("closes the source when the consumer stops early", async () => {
    let closed = false;
    async function* src() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    for await (const b of inBatches(src(), 3, 1000)) {
      expect(b).toEqual([0, 1, 2]);
      break;
    }
    expect(closed).toBe(true);
  });
});
