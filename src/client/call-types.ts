// The option and result types of the Node client's calls, gathered for the public entry (src/index.ts).
export type { CallOptions, ListOptions, StatOptions, DownloadOptions, OverwriteMode, UploadResult } from "./core.js";
export type { CopyOptions, CopyResult, CopyDigest } from "./copy.js";
export type { FindOptions } from "./find.js";
export type { DiskUsageOptions } from "./disk-usage.js";
export type { TailOptions, TailChunk } from "./tail.js";
export type { ListContainersOptions } from "./list-containers.js";
export type { DownloadFileOptions, DownloadFileResult } from "./local-files.js";
export type { SyncEndpoint, SyncOptions, SyncReport, SyncAction } from "./sync.js";
