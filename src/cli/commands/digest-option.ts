// --digest sha256|crc32|none of get and put: the SDK's `digest` option (SHA-256 by default).
import { DIGEST_NAMES, type DigestName } from "../../client/hasher.js";
import { UsageError } from "./errors.js";

export const DIGEST_HELP = "the transfer's checksum: sha256 (default; what sha256sum prints), crc32 (faster, against corruption only) or none (sizes only)";

export function parseDigest(v: string | undefined): DigestName | undefined {
  if (v === undefined) return undefined;
  if (!(DIGEST_NAMES as readonly string[]).includes(v)) throw new UsageError(`--digest ${v}: use sha256, crc32 or none`);
  return v as DigestName;
}

/** "sha256 <hex>", "crc32 <hex>" or "no digest", for -v. */
export const digestText = (r: { digestAlgorithm: DigestName; digest: string }) =>
  r.digestAlgorithm === "none" ? "no digest" : `${r.digestAlgorithm} ${r.digest}`;
