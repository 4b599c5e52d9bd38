// client.find(): the Find RPC's matches as an async iterable, one match at a time.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { DigestAlgorithm, type FileType, type FindMatch } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { CallOptions, FileServiceRpc } from "./rpc-types.js";
import { PodfilesError } from "./errors.js";
import type { ResolvedTarget } from "./target.js";

export interface FindOptions extends CallOptions {
  /** a shell glob on the base name, as `find -name` ("*.log") */
  name?: string;
  /** a JavaScript regular expression on the path below the directory (linear-time subset: no backreferences or lookaround) */
  regex?: string;
  /** types to match (default: every type) */
  types?: FileType[];
  minSize?: number | bigint;
  maxSize?: number | bigint;
  modifiedAfter?: Date;
  modifiedBefore?: Date;
  /** levels below the directory (0 or undefined: no limit) */
  maxDepth?: number;
  /** stop after this many matches (0 or undefined: no limit) */
  limit?: number;
  /** also the digest of every matching regular file (FindMatch.digest) */
  digest?: "sha256" | "crc32";
}

const digests = { sha256: DigestAlgorithm.SHA256, crc32: DigestAlgorithm.CRC32 };
const big = (n: number | bigint | undefined) => (n === undefined ? undefined : BigInt(n));

export async function* find(rpc: FileServiceRpc, target: ResolvedTarget, o: FindOptions = {}): AsyncGenerator<FindMatch> {
  const req = {
    ...target,
    nameGlob: o.name ?? "",
    pathRegex: o.regex ?? "",
    types: o.types ?? [],
    minSize: big(o.minSize),
    maxSize: big(o.maxSize),
    modifiedAfter: o.modifiedAfter ? timestampFromMs(o.modifiedAfter.getTime()) : undefined,
    modifiedBefore: o.modifiedBefore ? timestampFromMs(o.modifiedBefore.getTime()) : undefined,
    maxDepth: o.maxDepth ?? 0,
    limit: o.limit ?? 0,
    digestAlgorithm: o.digest ? digests[o.digest] : DigestAlgorithm.NONE,
  };
  try {
    for await (const res of rpc.find(req, o)) yield* res.matches;
  } catch (err) {
    throw PodfilesError.from(err);
  }
}
