import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DigestAlgorithm } from "../../gen/ts/podfiles/v1/files_pb.js";
import { createDigest, digestAlgorithm, digestFields, expectedDigest } from "./digest.js";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("digest", () => {
  it("SHA-256 and CRC-32 over pieces equal the digest of the whole (CRC-32 as gzip and `crc32` print it)", () => {
    const data = randomBytes(100_003);
    const pieces = [data.subarray(0, 1), data.subarray(1, 65_537), data.subarray(65_537)];
    const sha = createDigest(DigestAlgorithm.SHA256);
    const crc = createDigest(DigestAlgorithm.CRC32);
    for (const p of pieces) {
      sha.update(p);
      crc.update(p);
    }
    expect(hex(sha.digest())).toBe(createHash("sha256").update(data).digest("hex"));
    const check = createDigest(DigestAlgorithm.CRC32);
    check.update(Buffer.from("123456789"));
    expect(hex(check.digest())).toBe("cbf43926"); // the CRC-32 check value
    expect(crc.digest()).toHaveLength(4);
    expect(createDigest(DigestAlgorithm.NONE).digest()).toHaveLength(0);
  });

  it("UNSPECIFIED is SHA-256; unknown algorithms and wrong lengths are INVALID_ARGUMENT", () => {
    expect(digestAlgorithm(DigestAlgorithm.UNSPECIFIED)).toBe(DigestAlgorithm.SHA256);
    expect(() => digestAlgorithm(7 as DigestAlgorithm)).toThrow(/digest_algorithm 7/);
    expect(expectedDigest(DigestAlgorithm.CRC32, new Uint8Array(0))).toBeUndefined();
    expect(() => expectedDigest(DigestAlgorithm.CRC32, new Uint8Array(32))).toThrow(/4 bytes for CRC-32, got 32/);
    expect(() => expectedDigest(DigestAlgorithm.NONE, new Uint8Array(1))).toThrow(/empty with digest_algorithm NONE/);
  });

  it("sha256 is filled only for SHA-256", () => {
    const v = new Uint8Array([1, 2, 3, 4]);
    expect(digestFields({ algorithm: DigestAlgorithm.CRC32 }, v).sha256).toHaveLength(0);
    expect(digestFields({ algorithm: DigestAlgorithm.SHA256 }, v).sha256).toBe(v);
  });
});
