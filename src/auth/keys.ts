// Signing and verification keys of podfiles JWTs, from files (mounted from a
// Secret). There is no built-in key.
//
// A key file is one of
//   - a PEM private key: RSA (>= 2048 bits) → RS256, EC P-256 → ES256; signs and verifies;
//   - a PEM public key: verifies only (a rotated-out signer whose tokens are still valid);
//   - anything else: an HS256 secret (>= 32 bytes; trailing newlines are dropped).
// Key ids: `--jwt-key kid=file`, or the file's base name without extension.
// The first key signs new tokens; the others only verify. Rotation: put the new
// key first, keep the old one after it until its tokens have expired, then drop it.
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";

export type JwtAlg = "HS256" | "RS256" | "ES256";

export interface JwtKey {
  kid: string;
  alg: JwtAlg;
  /** Absent for public keys (verify only). */
  signKey?: KeyObject;
  verifyKey: KeyObject;
}

export function parseKey(kid: string, data: Buffer, where: string): JwtKey {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(kid)) throw new Error(`${where}: key id "${kid}" must be 1-64 characters of A-Z a-z 0-9 . _ -`);
  const text = data.toString("utf8");
  if (text.includes("-----BEGIN")) {
    if (/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(text)) {
      const priv = createPrivateKey(text);
      return { kid, alg: asymmetricAlg(priv, where), signKey: priv, verifyKey: createPublicKey(priv) };
    }
    if (/-----BEGIN (RSA )?PUBLIC KEY-----/.test(text)) {
      const pub = createPublicKey(text);
      return { kid, alg: asymmetricAlg(pub, where), verifyKey: pub };
    }
    throw new Error(`${where}: a PEM file must hold a private or public key (encrypted keys are not supported)`);
  }
  let secret = data;
  while (secret.length > 0 && (secret[secret.length - 1] === 0x0a || secret[secret.length - 1] === 0x0d)) secret = secret.subarray(0, -1);
  if (secret.length < 32) throw new Error(`${where}: an HS256 secret must be at least 32 bytes (got ${secret.length}); e.g. openssl rand -base64 48`);
  const key = createSecretKey(Buffer.from(secret));
  return { kid, alg: "HS256", signKey: key, verifyKey: key };
}

function asymmetricAlg(key: KeyObject, where: string): JwtAlg {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === "rsa") {
    if ((d?.modulusLength ?? 0) < 2048) throw new Error(`${where}: RSA keys must have at least 2048 bits`);
    return "RS256";
  }
  if (key.asymmetricKeyType === "ec" && d?.namedCurve === "prime256v1") return "ES256";
  throw new Error(
    `${where}: unsupported key type ${key.asymmetricKeyType}${d?.namedCurve ? ` (${d.namedCurve})` : ""}; use RSA (RS256), EC P-256 (ES256) or an HS256 secret`,
  );
}

/** `[kid=]file` → key. */
export function loadKey(spec: string): JwtKey {
  const eq = spec.indexOf("=");
  const file = eq > 0 ? spec.slice(eq + 1) : spec;
  const kid = eq > 0 ? spec.slice(0, eq) : basename(file, extname(file));
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new Error(`--jwt-key ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  return parseKey(kid, data, `--jwt-key ${file}`);
}

/** Checks a key set: unique ids, a first key that can sign. */
export function checkKeys(keys: JwtKey[]): void {
  if (keys.length === 0)
    throw new Error("JWT mode needs a key: --jwt-key <file> (an HS256 secret, or an RSA / EC P-256 private key); there is no built-in key");
  if (!keys[0].signKey) throw new Error(`--jwt-key ${keys[0].kid}: the first key signs new tokens, so it must be a private key or an HS256 secret`);
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k.kid)) throw new Error(`--jwt-key: duplicate key id "${k.kid}"`);
    seen.add(k.kid);
  }
}
