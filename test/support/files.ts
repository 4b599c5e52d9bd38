// Helpers for FileService tests: random content, digests, and collecting
// Download streams and driving Upload streams with the generated client.
import { createHash, randomBytes } from "node:crypto";
import type { Client } from "@connectrpc/connect";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  UploadRequestSchema,
  type FileService,
  type DownloadHeader,
  type DownloadTrailer,
  type UploadOptionsSchema,
  type UploadResponse,
} from "../../gen/ts/podfiles/v1/files_pb.js";

export type FileClient = Client<typeof FileService>;
export type Ref = { namespace: string; pod: string; container: string };

export const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
export const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString("hex");
export const random = (n: number) => randomBytes(n);

export interface Downloaded {
  header?: DownloadHeader;
  data: Buffer;
  trailer?: DownloadTrailer;
  messages: number;
}

export async function downloadAll(client: FileClient, container: Ref, path: string, extra: Record<string, unknown> = {}): Promise<Downloaded> {
  const parts: Buffer[] = [];
  const out: Downloaded = { data: Buffer.alloc(0), messages: 0 };
  for await (const msg of client.download({ container, path, ...extra })) {
    out.messages++;
    if (msg.part.case === "header") out.header = msg.part.value;
    else if (msg.part.case === "data") parts.push(Buffer.from(msg.part.value));
    else if (msg.part.case === "trailer") out.trailer = msg.part.value;
  }
  out.data = Buffer.concat(parts);
  return out;
}

/** Uploads `data` in chunks of chunkSize through the client-streaming Upload. */
export async function uploadAll(
  client: FileClient,
  container: Ref,
  path: string,
  data: Uint8Array | AsyncIterable<Uint8Array>,
  options: MessageInitShape<typeof UploadOptionsSchema> = {},
  chunkSize = 1024 * 1024,
): Promise<UploadResponse> {
  async function* requests() {
    yield create(UploadRequestSchema, { part: { case: "header", value: { container, path, options } } });
    if (data instanceof Uint8Array) {
      for (let i = 0; i < data.length; i += chunkSize) {
        yield create(UploadRequestSchema, { part: { case: "data", value: data.subarray(i, i + chunkSize) } });
      }
    } else {
      for await (const chunk of data) yield create(UploadRequestSchema, { part: { case: "data", value: chunk } });
    }
  }
  return client.upload(requests());
}

/** Lists a directory's names through ListFiles. */
export async function listNames(client: FileClient, container: Ref, path: string, extra: Record<string, unknown> = {}): Promise<string[]> {
  const names: string[] = [];
  for await (const batch of client.listFiles({ container, path, ...extra })) names.push(...batch.entries.map((e) => e.path));
  return names.sort();
}
