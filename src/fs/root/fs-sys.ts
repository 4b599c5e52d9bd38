// Promise wrappers for the fd-based fs calls Node exposes only with callbacks.
import * as fs from "node:fs";
import { promisify } from "node:util";
import { wireFromBytes } from "../name-bytes.js";

export const fstat = promisify(fs.fstat) as (fd: number, opts: { bigint: true }) => Promise<fs.BigIntStats>;
export const read = (fd: number, buffer: Uint8Array, offset: number, length: number, position: bigint | number | null): Promise<number> =>
  new Promise((resolve, reject) => fs.read(fd, buffer, offset, length, position, (err, n) => (err ? reject(err) : resolve(n))));
export const writeAll = async (fd: number, chunk: Uint8Array, position: bigint | number | null): Promise<void> => {
  let done = 0;
  let pos = position === null ? null : Number(position);
  while (done < chunk.length) {
    const n: number = await new Promise((resolve, reject) =>
      fs.write(fd, chunk, done, chunk.length - done, pos, (err, written) => (err ? reject(err) : resolve(written))),
    );
    done += n;
    if (pos !== null) pos += n;
  }
};
export const fsync = promisify(fs.fsync);
export const fchmod = promisify(fs.fchmod);
export const fchown = promisify(fs.fchown);
export const ftruncate = promisify(fs.ftruncate) as (fd: number, len: number) => Promise<void>;
export const futimes = promisify(fs.futimes);
export const close = promisify(fs.close);

/** Closes an fd, ignoring errors (cleanup paths). */
export function closeQuietly(fd: number | undefined): void {
  if (fd === undefined || fd < 0) return;
  try {
    fs.closeSync(fd);
  } catch {
    /* already closed */
  }
}

/**
 * opendir(3) that reads names as bytes: take each entry's name with direntName(), the API string
 * (a name that is not UTF-8 in its escaped form, src/fs/name-bytes.ts; utf8 decoding would turn
 * such names into U+FFFD and show two files as one).
 */
export const opendirBytes = (path: fs.PathLike, bufferSize = 256): Promise<fs.Dir> =>
  fs.promises.opendir(path as string, { bufferSize, encoding: "buffer" as BufferEncoding });

/** The API string of an entry read through opendirBytes. */
export const direntName = (d: fs.Dirent): string => wireFromBytes(d.name as unknown as Buffer);

/** readlink(2) as an API string (a target that is not UTF-8 in its escaped form). */
export const readlinkWire = async (path: fs.PathLike): Promise<string> => wireFromBytes(await fs.promises.readlink(path, { encoding: "buffer" }));
