// The digest option of the SDK's transfers (DigestName) on the wire (DigestAlgorithm), and the
// checks of what the server reports against what was asked for and computed here.
import { DigestAlgorithm } from "../../gen/ts/podfiles/v1/files_pb.js";
import { DigestMismatchError, PodfilesError, invalidArgument } from "./errors.js";
import { DIGEST_NAMES, digestLabel, equalBytes, toHex, type DigestName } from "./hasher.js";

const wire: Record<DigestName, DigestAlgorithm> = { sha256: DigestAlgorithm.SHA256, crc32: DigestAlgorithm.CRC32, none: DigestAlgorithm.NONE };

/** A caller's digest option checked (JavaScript callers can pass anything): INVALID_ARGUMENT unless sha256, crc32 or none. */
export function digestOption(d: string | undefined): DigestName {
  if (d === undefined) return "sha256";
  if (!(DIGEST_NAMES as readonly string[]).includes(d)) throw invalidArgument(`digest "${d}": use sha256, crc32 or none`);
  return d as DigestName;
}

export const digestAlgorithmOf = (d: DigestName): DigestAlgorithm => wire[d];

/**
 * The algorithm a server reported: UNSPECIFIED is a server from before DigestAlgorithm, which
 * always used SHA-256 (in `sha256`); a value this client does not know is an error.
 */
export function reportedDigest(a: DigestAlgorithm, path: string): DigestName {
  if (a === DigestAlgorithm.UNSPECIFIED) return "sha256";
  const name = DIGEST_NAMES.find((n) => wire[n] === a);
  if (!name) throw new PodfilesError(`${path}: the server used digest algorithm ${a}, which this client does not know`, 13 /* INTERNAL */);
  return name;
}

/** The digest bytes of a response: `digest`, or `sha256` from a server that predates it. */
export const reportedBytes = (r: { digestAlgorithm: DigestAlgorithm; digest: Uint8Array; sha256: Uint8Array }) =>
  r.digestAlgorithm === DigestAlgorithm.UNSPECIFIED ? r.sha256 : r.digest;

/** What a transfer's result says about its digest. */
export interface DigestResult {
  /** hex of the digest in `digestAlgorithm` ("" with none) */
  digest: string;
  digestAlgorithm: DigestName;
  /** hex SHA-256 ("" unless the digest was SHA-256) */
  sha256: string;
}

export function digestResult(name: DigestName, bytes: Uint8Array): DigestResult {
  const hex = toHex(bytes);
  return { digest: hex, digestAlgorithm: name, sha256: name === "sha256" ? hex : "" };
}

/**
 * An upload's response checked against what was asked: the server must have used the algorithm
 * asked for (a server from before DigestAlgorithm ignores it and computes SHA-256 only: asked for
 * crc32, nothing of the requested check happened, and the caller is told; asked for none, more was
 * done than asked), and its digest must equal the one computed here.
 */
export function checkUploadDigest(
  res: { digestAlgorithm: DigestAlgorithm; digest: Uint8Array; sha256: Uint8Array },
  asked: DigestName,
  computed: Uint8Array | undefined,
  path: string,
): DigestResult {
  const used = reportedDigest(res.digestAlgorithm, path);
  const bytes = reportedBytes(res);
  if (used !== asked && asked !== "none") {
    throw new PodfilesError(
      `${path}: asked for ${digestLabel[asked]}, the server computed ${digestLabel[used]} (a server older than this client?): the file was written; check it or upload with digest sha256`,
      9 /* FAILED_PRECONDITION */,
    );
  }
  if (computed && used === asked && used !== "none" && !equalBytes(computed, bytes)) {
    throw new DigestMismatchError(
      `${path}: ${digestLabel[used]} mismatch (sent ${toHex(computed)}, server ${toHex(bytes)})`,
      toHex(computed),
      toHex(bytes),
      used,
    );
  }
  return digestResult(used, bytes);
}
