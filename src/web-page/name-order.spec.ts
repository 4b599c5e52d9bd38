import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { collationKey, keysMatch, nameComparer } from "./name-order.js";

const collator = new Intl.Collator("en-US", { numeric: true, sensitivity: "base" });
const sign = (n: number) => Math.sign(n);
const plainName = fc.string({ unit: fc.constantFrom(..."aAbzZ019-_.".split("")), maxLength: 12 });

describe("name order", () => {
  it("orders plain names as an English numeric collator does, ties included", () => {
    fc.assert(
      fc.property(plainName, plainName, (a, b) => {
        const [ka, kb] = [collationKey(a)!, collationKey(b)!];
        expect(sign(ka < kb ? -1 : ka > kb ? 1 : 0), `${a} vs ${b}`).toBe(sign(collator.compare(a, b)));
      }),
      { numRuns: 20_000 },
    );
  });

  it("sorts a mix of plain and other names exactly as the collator", () => {
    const any = fc.oneof(plainName, fc.string({ maxLength: 8 }), fc.constantFrom("é", "Ünïcode 2", "a b", "a~b", "日本"));
    fc.assert(
      fc.property(fc.array(any, { maxLength: 60 }), (names) => {
        expect([...names].sort(nameComparer(collator))).toEqual([...names].sort((a, b) => collator.compare(a, b)));
      }),
      { numRuns: 2_000 },
    );
  });

  it("leaves names outside the alphabet, and other locales, to the collator", () => {
    expect(collationKey("a b")).toBeUndefined();
    expect(collationKey("é")).toBeUndefined();
    expect(keysMatch(collator)).toBe(true);
    // Estonian sorts z before t; Danish aa after z: no keys there
    const et = new Intl.Collator("et", { numeric: true, sensitivity: "base" });
    expect(keysMatch(et)).toBe(false);
    expect(["t", "z"].sort(nameComparer(et))).toEqual(["z", "t"]);
    expect(keysMatch(new Intl.Collator("en-US", { numeric: false, sensitivity: "base" }))).toBe(false);
  });
});
