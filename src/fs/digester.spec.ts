import { createHash } from "node:crypto";
import { expect, it } from "vitest";
import { digester } from "./digester.js";

it("computes SHA-256 and CRC-32 (big-endian) over chunks", () => {
  const s = digester("sha256");
  s.update(Buffer.from("hello "));
  s.update(Buffer.from("world"));
  expect(Buffer.from(s.digest()).toString("hex")).toBe(createHash("sha256").update("hello world").digest("hex"));
  const c = digester("crc32");
  c.update(Buffer.from("1234"));
  c.update(Buffer.from("56789"));
  expect(Buffer.from(c.digest()).toString("hex")).toBe("cbf43926"); // the CRC-32 check value of "123456789"
});
