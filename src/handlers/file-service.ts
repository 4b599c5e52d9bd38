// The FileService implementation: one thin handler per RPC family.
import type { ServiceImpl } from "@connectrpc/connect";
import type { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { abortUpload, beginUpload, commitUpload, queryUpload, writeUploadChunk } from "./chunked-upload.js";
import type { HandlerDeps } from "./deps.js";
import { copy } from "./copy.js";
import { diskUsage } from "./disk-usage.js";
import { download } from "./download.js";
import { find } from "./find.js";
import { listContainers } from "./list-containers.js";
import { listFiles } from "./list-files.js";
import { makeDirectory, remove, rename } from "./mutations.js";
import { stat } from "./stat.js";
import { tail } from "./tail.js";
import { upload } from "./upload.js";

export function fileService(deps: HandlerDeps): ServiceImpl<typeof FileService> {
  return {
    listFiles: listFiles(deps),
    stat: stat(deps),
    download: download(deps),
    upload: upload(deps),
    beginUpload: beginUpload(deps),
    writeUploadChunk: writeUploadChunk(deps),
    queryUpload: queryUpload(deps),
    commitUpload: commitUpload(deps),
    abortUpload: abortUpload(deps),
    makeDirectory: makeDirectory(deps),
    remove: remove(deps),
    rename: rename(deps),
    copy: copy(deps),
    listContainers: listContainers(deps),
    find: find(deps),
    diskUsage: diskUsage(deps),
    tail: tail(deps),
  };
}
