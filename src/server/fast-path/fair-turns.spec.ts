import { stat } from "node:fs";
import { describe, expect, it } from "vitest";
import { nextFairTurn } from "./fair-turns.js";

const busy = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

describe("nextFairTurn", () => {
  it("releases waiters in order, one per loop turn, with I/O handled between them", async () => {
    const order: string[] = [];
    const turns = Array.from({ length: 40 }, (_, i) =>
      nextFairTurn().then(() => {
        order.push(`t${i}`);
        busy(2); // a chunk's hashing
      }),
    );
    const io = new Promise<void>((resolve) => stat(import.meta.dirname, () => (order.push("io"), resolve())));
    await Promise.all([...turns, io]);
    const transfers = order.filter((o) => o !== "io");
    expect(transfers).toEqual(Array.from({ length: 40 }, (_, i) => `t${i}`));
    // the stat completed long before the 80 ms of queued work was done
    expect(order.indexOf("io")).toBeLessThan(20);
  });

  it("a waiter that arrives later waits behind the earlier ones", async () => {
    const order: number[] = [];
    const a = nextFairTurn().then(() => order.push(1));
    const b = nextFairTurn().then(() => order.push(2));
    await a;
    const c = nextFairTurn().then(() => order.push(3));
    await Promise.all([b, c]);
    expect(order).toEqual([1, 2, 3]);
  });
});
