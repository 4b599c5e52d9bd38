// podfiles/web — the client API for browsers (Connect over fetch, @connectrpc/connect-web).
export { createPodfilesWebClient } from "./client/web-client.js";
export type { PodfilesWebClient, PodfilesWebClientOptions, WebUploadSource, WebUploadOptions } from "./client/web-client.js";
export type { ListContainersOptions } from "./client/list-containers.js";
export type { CallOptions, ListOptions, StatOptions, DownloadOptions, OverwriteMode, UploadResult } from "./client/core.js";
export { DownloadStream, type DownloadInfo, type DownloadResult, type Progress, type ProgressCallback } from "./client/download-stream.js";
export { PodfilesError, DigestMismatchError, Code, codeName } from "./client/errors.js";
export type { ContainerRef, Target } from "./client/target.js";
export { FileType, type FileEntry, type ContainerInfo } from "../gen/ts/podfiles/v1/files_pb.js";
