// podfiles — the client API (Node). `import { createPodfilesClient } from "podfiles"`.
// The browser build is "podfiles/web", the server "podfiles/server".
export { createPodfilesClient } from "./client/node-client.js";
export { connectWithKubeconfig, type KubeconfigClient, type KubeconfigClientOptions } from "./client/kube-client.js";
export { DEFAULT_AGENT_NAMESPACE, DEFAULT_AGENT_SELECTOR } from "./client/agent-defaults.js";
export type { PodfilesClient, PodfilesClientOptions, UploadOptions, UploadSource, DirectoryUploadOptions, NodeDownloadStream } from "./client/node-client.js";
export type { ListContainersOptions } from "./client/list-containers.js";
export type { CallOptions, ListOptions, StatOptions, DownloadOptions, OverwriteMode, UploadResult } from "./client/core.js";
export type { CopyOptions, CopyResult, CopyDigest } from "./client/copy.js";
export type { DownloadFileOptions, DownloadFileResult } from "./client/local-files.js";
export type { FindOptions } from "./client/find.js";
export type { DiskUsageOptions } from "./client/disk-usage.js";
export type { TailOptions, TailChunk } from "./client/tail.js";
export { DownloadStream, type DownloadInfo, type DownloadResult, type Progress, type ProgressCallback } from "./client/download-stream.js";
export { PodfilesError, DigestMismatchError, Code, codeName } from "./client/errors.js";
export type { ContainerRef, Target } from "./client/target.js";
export { packDirectory, extractTar } from "./client/tar.js";
export { FileType, type FileEntry, type ContainerInfo } from "../gen/ts/podfiles/v1/files_pb.js";
