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
