// What the transfer code needs of a SHA-256: node:crypto in Node, sha256.ts in the browser.
export interface Hasher {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array;
}

export type HasherFactory = () => Hasher;

export const toHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The digest a transfer is checked with: SHA-256 (the default; what sha256sum prints), CRC-32 (fast, against corruption only), or none (sizes only). */
export type DigestName = "sha256" | "crc32" | "none";
export const DIGEST_NAMES: readonly DigestName[] = ["sha256", "crc32", "none"];
export const digestLabel: Record<DigestName, string> = { sha256: "SHA-256", crc32: "CRC-32", none: "no digest" };

/** The hashers of a build: node:crypto and zlib in Node, sha256.ts and crc32.ts in the browser. */
export interface DigestHashers {
  sha256: HasherFactory;
  crc32: HasherFactory;
}

/** A hasher whose digest may come later (one running in a Web Worker): what downloads and chunked uploads take. */
export interface StreamHasher {
  update(data: Uint8Array): unknown;
  digest(): Uint8Array | Promise<Uint8Array>;
  /** Releases what it holds (a worker) when the transfer ends without asking for the digest. */
  dispose?(): void;
}

/** The hashers a download is checked (or a chunked upload hashed) with; DigestHashers are such hashers too. */
export interface StreamHashers {
  sha256: () => StreamHasher;
  crc32: () => StreamHasher;
}

/** A hasher for `name`; "none" digests to zero bytes. */
export function hasherFor(name: DigestName, hashers: DigestHashers): Hasher;
export function hasherFor(name: DigestName, hashers: StreamHashers): StreamHasher;
export function hasherFor(name: DigestName, hashers: StreamHashers): StreamHasher {
  return name === "none" ? { update: () => undefined, digest: () => new Uint8Array(0) } : hashers[name]();
}
