// Password hashes for the IssueToken clients file: scrypt from node:crypto, in
// the PHC string format
//
//   $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt, base64 without padding>$<hash, base64 without padding>
//
// e.g. `$scrypt$ln=15,r=8,p=1$…$…` (N = 32768, 32 MiB of memory, ~0.1 s).
// Create one with `node dist/src/auth/hash-password.js` (reads the password
// on stdin) or `hashPassword()`.
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

const DEFAULT = { ln: 15, r: 8, p: 1 };
const SALT_BYTES = 16;
const HASH_BYTES = 32;

interface Parsed {
  ln: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

const b64 = (b: Buffer) => b.toString("base64").replace(/=+$/, "");

function derive(password: string, salt: Buffer, ln: number, r: number, p: number, bytes: number): Promise<Buffer> {
  const N = 2 ** ln;
  return new Promise((resolve, reject) =>
    scrypt(password.normalize("NFC"), salt, bytes, { N, r, p, maxmem: 128 * N * r * p + 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export async function hashPassword(password: string, params = DEFAULT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, params.ln, params.r, params.p, HASH_BYTES);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

/** Parses a stored hash; throws with a reason when it is not one podfiles understands. */
export function parsePasswordHash(stored: string): Parsed {
  const m = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/.exec(stored);
  if (!m) throw new Error("not a scrypt hash in the form $scrypt$ln=15,r=8,p=1$<salt>$<hash> (plain-text passwords are not accepted)");
  const [ln, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16)
    throw new Error(`scrypt parameters out of range (ln 10..20, r 1..32, p 1..16): ln=${ln},r=${r},p=${p}`);
  const salt = Buffer.from(m[4], "base64");
  const hash = Buffer.from(m[5], "base64");
  if (salt.length < 8 || hash.length < 16) throw new Error("scrypt salt or hash too short");
  return { ln, r, p, salt, hash };
}

/** Constant-time check of a password against a stored hash. */
export async function verifyPassword(password: string, stored: string | Parsed): Promise<boolean> {
  const h = typeof stored === "string" ? parsePasswordHash(stored) : stored;
  const got = await derive(password, h.salt, h.ln, h.r, h.p, h.hash.length);
  return timingSafeEqual(got, h.hash);
}

/** A hash no password matches, to spend the same time on unknown client names. */
export const decoyHash = (): Parsed => ({ ...DEFAULT, salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES) });
