import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Sha256 } from "./sha256.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("Sha256 (the browser build's incremental SHA-256)", () => {
  it.each([0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 1 << 20])("equals node:crypto for %i bytes", (n) => {
    const data = randomBytes(n);
    expect(hex(new Sha256().update(data).digest())).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("equals node:crypto whatever the update sizes (block boundaries inside and across updates)", () => {
    const data = randomBytes(300_000);
    const h = new Sha256();
    for (let at = 0, i = 0; at < data.length; i++) {
      const n = [1, 63, 64, 65, 4097, 7][i % 6]!;
      h.update(data.subarray(at, at + n));
      at += n;
    }
    expect(hex(h.digest())).toBe(createHash("sha256").update(data).digest("hex"));
  });

  it("hashes the bytes whose words have the top bit set (the Int32Array path)", () => {
    const data = Buffer.alloc(4096, 0xff);
    expect(hex(new Sha256().update(data).digest())).toBe(createHash("sha256").update(data).digest("hex"));
  });
});
