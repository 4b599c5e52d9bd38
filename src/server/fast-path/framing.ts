// Enveloping Download messages for the wire. gRPC, gRPC-Web and the Connect streaming protocol
// share one envelope: a flags byte and a 4-byte big-endian length, then the message. A data
// message whose chunk has spare bytes in front (fs/headroom.ts) is framed in those bytes: the
// envelope, the protobuf tag of DownloadResponse.data and the varint length go in front of the
// chunk and the one buffer goes out, with no serialisation copy.
import { toBinary } from "@bufbuild/protobuf";
import { DownloadResponseSchema, type DownloadResponse } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { hasHeadroom } from "../../fs/headroom.js";

const DATA_FIELD_TAG = (2 << 3) | 2; // DownloadResponse.data: field 2, length-delimited

/** One enveloped message: the data chunk framed in place when it has headroom, else serialised. */
export function frameMessage(message: DownloadResponse): Uint8Array {
  if (message.part.case === "data" && hasHeadroom(message.part.value)) {
    const data = message.part.value;
    const varint = varintBytes(data.length);
    const messageLength = 1 + varint.length + data.length;
    const prefix = 5 + 1 + varint.length;
    const out = new Uint8Array(data.buffer, data.byteOffset - prefix, prefix + data.length);
    out[0] = 0; // not compressed
    new DataView(out.buffer, out.byteOffset + 1, 4).setUint32(0, messageLength);
    out[5] = DATA_FIELD_TAG;
    out.set(varint, 6);
    return out;
  }
  return envelope(0, toBinary(DownloadResponseSchema, message));
}

/** An envelope with the given flags around `body` (copied: for small messages and end-of-stream frames). */
export function envelope(flags: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, body.length);
  out.set(body, 5);
  return out;
}

function varintBytes(n: number): number[] {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return bytes;
}
