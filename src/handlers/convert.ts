// Translation between protobuf messages and the ContainerFs types.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ArchiveFormat, FileEntrySchema, FileType, OverwritePolicy, type FileEntry, type UploadOptions } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { Entry, EntryType, OverwriteMode, WriteOptions } from "../fs/container-fs.js";
import { invalidArgument } from "../errors.js";
import { modeText } from "../fs/mode-text.js";
import { DigestAlgorithm } from "../../gen/ts/podfiles/v1/files_pb.js";
import { digestAlgorithm, expectedDigest, type UsedDigestAlgorithm } from "./digest.js";

const fileTypes: Record<EntryType, FileType> = {
  regular: FileType.REGULAR,
  directory: FileType.DIRECTORY,
  symlink: FileType.SYMLINK,
  fifo: FileType.FIFO,
  socket: FileType.SOCKET,
  "char-device": FileType.CHAR_DEVICE,
  "block-device": FileType.BLOCK_DEVICE,
  unknown: FileType.UNSPECIFIED,
};

/** A proto FileType as the fs seam's EntryType (undefined for UNSPECIFIED and unknown numbers). */
export function entryTypeOf(t: FileType): EntryType | undefined {
  const found = (Object.entries(fileTypes) as [EntryType, FileType][]).find(([name, value]) => value === t && name !== "unknown");
  return found?.[0];
}

export function entryToProto(e: Entry): FileEntry {
  return create(FileEntrySchema, {
    name: e.name,
    path: e.path,
    type: fileTypes[e.type],
    size: e.size,
    mode: e.mode,
    modeText: modeText(e.mode),
    uid: e.uid,
    gid: e.gid,
    user: e.user,
    group: e.group,
    modifyTime: timestampFromMs(Math.trunc(e.mtimeMs)),
    symlinkTarget: e.symlinkTarget ?? "",
    nlink: BigInt(e.nlink),
  });
}

/** The request's container, or INVALID_ARGUMENT when it is missing. */
/** The request's path, or INVALID_ARGUMENT when it is empty. (Normalisation happens in ContainerFs.) */
export function requirePath(path: string, field = "path"): string {
  if (!path) throw invalidArgument(`${field} is required`);
  return path;
}

const overwriteModes: Record<OverwritePolicy, OverwriteMode> = {
  [OverwritePolicy.UNSPECIFIED]: "fail",
  [OverwritePolicy.FAIL]: "fail",
  [OverwritePolicy.OVERWRITE]: "overwrite",
  [OverwritePolicy.APPEND]: "append",
};

export type ReadFormat = "raw" | "tar" | "auto";

export function readFormat(f: ArchiveFormat): ReadFormat {
  return f === ArchiveFormat.RAW ? "raw" : f === ArchiveFormat.TAR ? "tar" : "auto";
}

export const formatToProto = (f: "raw" | "tar") => (f === "raw" ? ArchiveFormat.RAW : ArchiveFormat.TAR);

export interface UploadPlan {
  write: WriteOptions;
  tar: boolean;
  expectedSize?: bigint;
  /** The digest computed over the bytes received (UNSPECIFIED resolved to SHA-256). */
  digest: UsedDigestAlgorithm;
  /** expected_digest, or expected_sha256 (SHA-256 only): the upload fails unless it matches. */
  expectedDigest?: Uint8Array;
}

/** The request's upload options checked; policy is the server's (src/handlers/upload-sessions.ts: --allow-setid). */
export function uploadPlan(o: UploadOptions | undefined, policy: { allowSetid: boolean }): UploadPlan {
  const mode = o?.mode;
  if (mode !== undefined && mode > 0o7777) throw invalidArgument(`mode ${mode.toString(8)} has bits beyond 07777`);
  const overwrite = overwriteModes[o?.overwrite ?? OverwritePolicy.UNSPECIFIED];
  if (overwrite === undefined) throw invalidArgument(`unknown overwrite policy ${o?.overwrite}`);
  if (o && o.offset !== 0n && overwrite !== "append") throw invalidArgument("offset is only used with OVERWRITE_POLICY_APPEND");
  const sha = o?.expectedSha256;
  if (sha && sha.length !== 0 && sha.length !== 32) throw invalidArgument(`expected_sha256 must be 32 bytes, got ${sha.length}`);
  const digest = digestAlgorithm(o?.digestAlgorithm);
  const expected = expectedDigest(digest, o?.expectedDigest);
  if (sha?.length && digest !== DigestAlgorithm.SHA256) throw invalidArgument("expected_sha256 needs digest_algorithm SHA-256 (or unset); use expected_digest");
  if (sha?.length && expected && !Buffer.from(sha).equals(expected)) throw invalidArgument("expected_sha256 and expected_digest differ");
  const tar = o?.format === ArchiveFormat.TAR;
  if (tar && overwrite === "append") throw invalidArgument("append does not apply to tar uploads");
  const modifiedTime = o?.modifiedTime ? { seconds: o.modifiedTime.seconds, nanos: o.modifiedTime.nanos } : undefined;
  if (modifiedTime && tar) throw invalidArgument("modified_time applies to a file; a tar carries its entries' own times");
  // years 0001–9999 (RFC 3339, as Timestamp itself is defined); beyond, futimes fails or the filesystem clamps
  if (modifiedTime && (modifiedTime.seconds < -62135596800n || modifiedTime.seconds > 253402300799n))
    throw invalidArgument(`modified_time ${modifiedTime.seconds} s is outside the years 0001–9999`);
  if (modifiedTime && (modifiedTime.nanos < 0 || modifiedTime.nanos >= 1e9))
    throw invalidArgument(`modified_time nanos ${modifiedTime.nanos} is outside 0–999999999`);
  return {
    write: {
      mode,
      uid: o?.uid,
      gid: o?.gid,
      overwrite,
      offset: o?.offset ?? 0n,
      makeParents: o?.makeParents ?? false,
      allowSetid: policy.allowSetid,
      modifiedTime,
    },
    tar,
    expectedSize: o?.expectedSize,
    digest,
    expectedDigest: expected ?? (sha?.length ? sha : undefined),
  };
}
