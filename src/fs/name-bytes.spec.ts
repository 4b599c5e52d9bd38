import { describe, expect, it } from "vitest";
import { pathFromWire, wireFromBytes } from "./name-bytes.js";

const bytesOf = (x: string | Buffer) => (typeof x === "string" ? Buffer.from(x, "utf8") : x);
const roundTrip = (b: Buffer) => bytesOf(pathFromWire(wireFromBytes(b)));

describe("name bytes ⇄ API strings", () => {
  it("leaves valid UTF-8 names alone, backslashes included", () => {
    for (const name of ["hello.txt", "ünïcødé 名前", "C:\\dir", "a\\b", "trailing\\", "\\x41", "emoji 😀"]) {
      expect(wireFromBytes(Buffer.from(name))).toBe(name);
      expect(pathFromWire(name)).toBe(name);
    }
  });

  it("escapes invalid bytes as \\xNN and gives the same bytes back", () => {
    const b = Buffer.from([0x61, 0xff, 0x62, 0xc3]); // a, invalid, b, truncated sequence
    expect(wireFromBytes(b)).toBe("a\\xffb\\xc3");
    expect(roundTrip(b)).toEqual(b);
  });

  it("keeps a literal `a\\xff` apart from a<0xff>", () => {
    const literal = Buffer.from("a\\xff");
    const raw = Buffer.from([0x61, 0xff]);
    expect(wireFromBytes(literal)).not.toBe(wireFromBytes(raw));
    expect(roundTrip(literal)).toEqual(literal);
    expect(roundTrip(raw)).toEqual(raw);
    expect(wireFromBytes(Buffer.from("x\\\\y"))).toBe("x\\\\\\\\y");
  });

  it("refuses overlong forms and surrogates as UTF-8", () => {
    for (const seq of [
      [0xc0, 0xaf],
      [0xe0, 0x80, 0xaf],
      [0xed, 0xa0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
    ]) {
      const b = Buffer.from(seq);
      expect(wireFromBytes(b)).toBe(seq.map((x) => "\\x" + x.toString(16)).join(""));
      expect(roundTrip(b)).toEqual(b);
    }
  });

  it("never escapes '/', '.', or ASCII: path cleaning sees them as they are", () => {
    expect(pathFromWire("/a/../\\x2e")).toBe("/a/../\\x2e"); // \x2e is not an escape: stays literal text
    expect(bytesOf(pathFromWire("/d\\xff/..")).toString("latin1")).toBe("/d\xff/..");
  });

  it("round-trips random byte names", () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const alphabet = [0x61, 0x5c, 0x78, 0x66, 0x39, 0x2e, 0xc3, 0xa9, 0xff, 0x80, 0xe2, 0x82, 0xac, 0xf0, 0x9f];
    for (let n = 0; n < 5000; n++) {
      const len = 1 + Math.floor(rnd() * 12);
      const b = Buffer.from(Array.from({ length: len }, () => alphabet[Math.floor(rnd() * alphabet.length)]!));
      expect(roundTrip(b)).toEqual(b);
      // injective on what it shows: the shown string decodes to these bytes and no others
      expect(bytesOf(pathFromWire(wireFromBytes(b))).equals(b)).toBe(true);
    }
  });
});
