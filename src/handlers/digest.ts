// The digest a transfer is checked with, as the caller chose it (DigestAlgorithm): SHA-256 (the
// default, what sha256sum prints), CRC-32 (zlib's, 4 bytes big-endian) or none. Measured on this
// 2-core VM with SHA-NI, one core: node:crypto SHA-256 ~1.27 GB/s, zlib.crc32 ~4.2 GB/s (issue #16):
// on the event loop, the digest alone caps a download at ~0.6× a raw HTTP/2 server with SHA-256.
import { createHash, type Hash } from "node:crypto";
import { crc32 } from "node:zlib";
import { DigestAlgorithm } from "../../gen/ts/podfiles/v1/files_pb.js";
import { invalidArgument } from "../errors.js";

/** An algorithm a transfer can use (UNSPECIFIED resolved to SHA-256). */
export type UsedDigestAlgorithm = DigestAlgorithm.SHA256 | DigestAlgorithm.CRC32 | DigestAlgorithm.NONE;

export interface Digest {
  readonly algorithm: UsedDigestAlgorithm;
  update(chunk: Uint8Array): void;
  /** The digest of everything updated (empty with NONE); call once. */
  digest(): Uint8Array;
}

const names: Record<UsedDigestAlgorithm, string> = {
  [DigestAlgorithm.SHA256]: "SHA-256",
  [DigestAlgorithm.CRC32]: "CRC-32",
  [DigestAlgorithm.NONE]: "NONE",
};
const lengths: Record<UsedDigestAlgorithm, number> = { [DigestAlgorithm.SHA256]: 32, [DigestAlgorithm.CRC32]: 4, [DigestAlgorithm.NONE]: 0 };

export const digestName = (a: UsedDigestAlgorithm) => names[a];

/** The request's algorithm: UNSPECIFIED is SHA-256 (what every client before #16 gets); an unknown value is INVALID_ARGUMENT. */
export function digestAlgorithm(a: DigestAlgorithm | undefined): UsedDigestAlgorithm {
  if (a === undefined || a === DigestAlgorithm.UNSPECIFIED) return DigestAlgorithm.SHA256;
  if (a === DigestAlgorithm.SHA256 || a === DigestAlgorithm.CRC32 || a === DigestAlgorithm.NONE) return a;
  throw invalidArgument(`digest_algorithm ${a} is not one this server knows (SHA256, CRC32 or NONE)`);
}

/** An expected digest checked for the algorithm's length; empty means none expected. */
export function expectedDigest(a: UsedDigestAlgorithm, bytes: Uint8Array | undefined): Uint8Array | undefined {
  if (!bytes || bytes.length === 0) return undefined;
  if (a === DigestAlgorithm.NONE) throw invalidArgument("expected_digest must be empty with digest_algorithm NONE");
  if (bytes.length !== lengths[a]) throw invalidArgument(`expected_digest must be ${lengths[a]} bytes for ${names[a]}, got ${bytes.length}`);
  return bytes;
}

export function createDigest(a: UsedDigestAlgorithm): Digest {
  if (a === DigestAlgorithm.SHA256) return new Sha256Digest();
  if (a === DigestAlgorithm.CRC32) return new Crc32Digest();
  return { algorithm: DigestAlgorithm.NONE, update() {}, digest: () => new Uint8Array(0) };
}

/** The response fields of a digest: `sha256` too when it is SHA-256 (old clients read only that). */
export function digestFields(d: { algorithm: UsedDigestAlgorithm }, value: Uint8Array) {
  return { digestAlgorithm: d.algorithm, digest: value, sha256: d.algorithm === DigestAlgorithm.SHA256 ? value : new Uint8Array(0) };
}

class Sha256Digest implements Digest {
  readonly algorithm = DigestAlgorithm.SHA256;
  private readonly hash: Hash = createHash("sha256");
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
  }
  digest(): Uint8Array {
    return new Uint8Array(this.hash.digest());
  }
}

class Crc32Digest implements Digest {
  readonly algorithm = DigestAlgorithm.CRC32;
  private value = 0;
  update(chunk: Uint8Array): void {
    this.value = crc32(chunk, this.value);
  }
  digest(): Uint8Array {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, this.value >>> 0);
    return out;
  }
}
