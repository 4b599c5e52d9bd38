// The digest of one file met by a walk (Find with a digest, for sync manifests): typed on an
// O_PATH fd first, so only a regular file is ever opened, then read in chunks like a download.
import * as fs from "node:fs";
import type { DigestKind } from "../container-fs.js";
import { digester } from "../digester.js";
import { chunkPool } from "../headroom.js";
import type { RootContext } from "./context.js";
import { ReadFd, readChunks } from "./read-chunks.js";

const CHUNK = 256 * 1024;

/**
 * The digest of `name` in the directory dirFd, or undefined when it is no longer a regular file
 * there or cannot be read (the match is still reported, without one).
 */
export async function digestAt(
  ctx: RootContext,
  dirFd: number,
  name: string,
  path: string,
  kind: DigestKind,
  signal?: AbortSignal,
): Promise<Uint8Array | undefined> {
  let file: ReadFd;
  let size: bigint;
  try {
    const pin = await ctx.pinAt(dirFd, name, path);
    size = pin.st.size;
    file = new ReadFd(await ctx.reopen(pin, path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK, { allow: ["regular"], verb: "digest" }));
  } catch {
    return undefined;
  }
  const d = digester(kind);
  try {
    for await (const chunk of readChunks(file, 0n, size, CHUNK, signal)) {
      d.update(chunk);
      chunkPool.release(chunk);
    }
  } catch (err) {
    signal?.throwIfAborted();
    void err;
    return undefined;
  }
  return d.digest();
}
