// Find's per-file digests, computed as the bytes stream past.
import { createHash } from "node:crypto";
import * as zlib from "node:zlib";
import type { DigestKind } from "./container-fs.js";

/** Incremental SHA-256 or CRC-32 (4 bytes, big-endian, as zlib and gzip compute it). */
export function digester(kind: DigestKind): { update(b: Uint8Array): void; digest(): Uint8Array } {
  if (kind === "sha256") {
    const h = createHash("sha256");
    return { update: (b) => void h.update(b), digest: () => new Uint8Array(h.digest()) };
  }
  let crc = 0;
  return {
    update: (b) => void (crc = zlib.crc32(b, crc)),
    digest: () => {
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, crc >>> 0);
      return out;
    },
  };
}
