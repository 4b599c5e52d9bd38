// Opening a file or directory for download. The fd is opened (confined)
// before the first byte is sent, so the header describes exactly what streams.
import * as fs from "node:fs";
import type { ReadOptions, ReadStream } from "../container-fs.js";
import { cannotOpenType, failedPrecondition, invalidArgument, outOfRange } from "../../errors.js";
import { entryFromStats } from "./entries.js";
import { closeQuietly } from "./fs-sys.js";
import type { RootContext } from "./context.js";
import { ReadFd, readChunks } from "./read-chunks.js";
import { packDirectory } from "./tar-pack.js";

// O_NONBLOCK: a regular file ignores it; it is there in case anything but one ever reached the open.
const READ_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK;

/**
 * Decides the type on an O_PATH fd before opening anything: a regular file is reopened for
 * reading, a directory's O_PATH fd goes to the tar packer (which lists from it, never reopening
 * the path by name), and a FIFO, socket or device is refused without being opened.
 */
export async function openForRead(ctx: RootContext, path: string, options: ReadOptions & { format: "raw" | "tar" | "auto" }): Promise<ReadStream> {
  const names = await ctx.names();
  const pin = await ctx.pin(path, { followFinalSymlink: true });
  let handedOver = false;
  try {
    const entry = entryFromStats(path, pin.st, names);
    if (entry.type === "directory") {
      if (options.format === "raw") throw failedPrecondition(`${path}: is a directory (ask for the tar format)`);
      if (options.offset !== 0n || options.length !== 0n) throw invalidArgument("offset and length apply to files, not to directory tar streams");
      handedOver = true;
      return packDirectory(ctx, { fd: pin.pathFd, st: pin.st }, path, entry, options);
    }
    if (entry.type !== "regular") throw cannotOpenType(path, "download", entry.type);
    if (options.format === "tar") throw failedPrecondition(`${path}: tar downloads are for directories`);
    const size = pin.st.size;
    if (options.offset > size) throw outOfRange(`offset ${options.offset} is past the end of ${path} (${size} bytes)`);
    const available = size - options.offset;
    const length = options.length === 0n || options.length > available ? available : options.length;
    handedOver = true; // reopen closes the O_PATH fd
    const file = new ReadFd(await ctx.reopen(pin, path, READ_FLAGS, { allow: ["regular"], verb: "download" }));
    return {
      entry,
      format: "raw",
      offset: options.offset,
      length,
      chunks: readChunks(file, options.offset, length, options.chunkSize, options.signal),
      close: async () => file.close(),
    };
  } finally {
    if (!handedOver) closeQuietly(pin.pathFd);
  }
}
