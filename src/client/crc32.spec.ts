import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { describe, expect, it } from "vitest";
import { Crc32 } from "./crc32.js";

describe("Crc32 (the browser's)", () => {
  it("equals zlib's over any split, and the standard check value", () => {
    expect(Buffer.from(new Crc32().update(Buffer.from("123456789")).digest()).toString("hex")).toBe("cbf43926");
    const data = randomBytes(70_001);
    const h = new Crc32().update(data.subarray(0, 3)).update(data.subarray(3, 65_000)).update(data.subarray(65_000));
    expect(Buffer.from(h.digest()).readUInt32BE(0)).toBe(crc32(data));
    expect(Buffer.from(new Crc32().digest()).toString("hex")).toBe("00000000");
  });
});
