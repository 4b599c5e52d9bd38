// Translation between protobuf messages and the ContainerFs types.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ArchiveFormat, FileEntrySchema, FileType, OverwritePolicy, type FileEntry, type UploadOptions } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { Entry, EntryType, OverwriteMode, WriteOptions } from "../fs/container-fs.js";
import { invalidArgument } from "../errors.js";
import { modeText } from "../fs/mode-text.js";

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
  expectedSha256?: Uint8Array;
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
  const tar = o?.format === ArchiveFormat.TAR;
  if (tar && overwrite === "append") throw invalidArgument("append does not apply to tar uploads");
  return {
    write: { mode, uid: o?.uid, gid: o?.gid, overwrite, offset: o?.offset ?? 0n, makeParents: o?.makeParents ?? false, allowSetid: policy.allowSetid },
    tar,
    expectedSize: o?.expectedSize,
    expectedSha256: sha?.length ? sha : undefined,
  };
}
