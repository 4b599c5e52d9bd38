// What a directory's tar stream will come to, for the progress bar's total and ETA (a tree's
// download or upload is a tar stream of unknown length): a 512-byte header per entry and each
// file's bytes padded to 512, plus the two zero blocks at the end. Exact for ustar names; long
// names add a pax header each, so it is an estimate. Computed only when a bar is shown.
import * as fs from "node:fs";
import { join } from "node:path";
import { FileType } from "../../../gen/ts/podfiles/v1/files_pb.js";
import type { PodfilesClient } from "./client.js";
import type { RemotePath } from "./remote-path.js";

const block = (size: number) => 512 + Math.ceil(size / 512) * 512;

export async function localTreeSize(dir: string): Promise<number> {
  let total = 1024;
  const walk = async (d: string) => {
    for (const e of await fs.promises.readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        total += 512;
        await walk(p);
      } else if (e.isFile()) total += block((await fs.promises.lstat(p)).size);
      else total += 512;
    }
  };
  await walk(dir);
  return total;
}

export async function remoteTreeSize(client: PodfilesClient, dir: RemotePath): Promise<number> {
  let total = 1024;
  for await (const e of client.list(dir, { recursive: true, hidden: true })) total += e.type === FileType.REGULAR ? block(Number(e.size)) : 512;
  return total;
}
