// client.tail(): a file's last lines (or from an offset) and, with follow, what is appended
// later, as an async iterable of chunks; following ends when the signal aborts (or the loop breaks).
import { TailNotice } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { CallOptions, FileServiceRpc } from "./rpc-types.js";
import { Code, PodfilesError } from "./errors.js";
import type { ResolvedTarget } from "./target.js";

export interface TailOptions extends CallOptions {
  /** start with the last N lines (default 10 unless offset is given) */
  lines?: number;
  /** or start at this byte offset */
  offset?: number | bigint;
  /** keep streaming what is appended, across rotation and truncation */
  follow?: boolean;
}

export interface TailChunk {
  data: Uint8Array;
  /** offset of data's first byte in the file it came from */
  offset: bigint;
  /** set on the first chunk after the path was rotated (a new file) or the file was truncated */
  notice?: "rotated" | "truncated";
}

const notices: Partial<Record<TailNotice, TailChunk["notice"]>> = { [TailNotice.ROTATED]: "rotated", [TailNotice.TRUNCATED]: "truncated" };

export async function* tail(rpc: FileServiceRpc, target: ResolvedTarget, o: TailOptions = {}): AsyncGenerator<TailChunk> {
  const req = { ...target, lines: o.lines, offset: o.offset === undefined ? undefined : BigInt(o.offset), follow: !!o.follow };
  try {
    for await (const res of rpc.tail(req, o)) {
      const notice = notices[res.notice];
      yield notice ? { data: res.data, offset: res.offset, notice } : { data: res.data, offset: res.offset };
    }
  } catch (err) {
    const e = PodfilesError.from(err);
    // a follow the caller stopped through its own signal ends the iteration, not as a failure
    if (o.follow && e.code === Code.Canceled && o.signal?.aborted) return;
    throw e;
  }
}
