// podfiles — the client API (Node). `import { createPodfilesClient } from "podfiles"`.
// The browser build is "podfiles/web", the server "podfiles/server".
export { createPodfilesClient } from "./client/node-client.js";
export { connectWithKubeconfig, type KubeconfigClient, type KubeconfigClientOptions } from "./client/kube-client.js";
export { DEFAULT_AGENT_NAMESPACE, DEFAULT_AGENT_SELECTOR } from "./client/agent-defaults.js";
export type { PodfilesClient, PodfilesClientOptions, UploadOptions, UploadSource, DirectoryUploadOptions, NodeDownloadStream } from "./client/node-client.js";
export type * from "./client/call-types.js";
export { DownloadStream, type DownloadInfo, type DownloadResult, type Progress, type ProgressCallback } from "./client/download-stream.js";
export { PodfilesError, DigestMismatchError, Code, codeName } from "./client/errors.js";
export type { ContainerRef, Target } from "./client/target.js";
export { packDirectory, extractTar } from "./client/tar.js";
export { FileType, type FileEntry, type ContainerInfo } from "../gen/ts/podfiles/v1/files_pb.js";
