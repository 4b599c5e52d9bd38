// Small helpers over the generated FileService client for the real-container suites.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ConnectError, type Client } from "@connectrpc/connect";
import { type FileService, UploadRequestSchema, type UploadOptionsSchema } from "../../../gen/ts/podfiles/v1/files_pb.js";

export type FileClient = Client<typeof FileService>;
export type Ref = { namespace: string; pod: string; container: string };

export async function download(client: FileClient, container: Ref, path: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const msg of client.download({ container, path })) if (msg.part.case === "data") parts.push(Buffer.from(msg.part.value));
  return Buffer.concat(parts);
}

/** ms from the call to the first data byte (the call resolves the container first). */
export async function timeToFirstByte(client: FileClient, container: Ref, path: string): Promise<number> {
  const t0 = performance.now();
  let first = -1;
  for await (const msg of client.download({ container, path }))
    if (first < 0 && msg.part.case === "data" && msg.part.value.length > 0) first = performance.now() - t0;
  return first;
}

export async function upload(client: FileClient, container: Ref, path: string, data: Uint8Array, options: MessageInitShape<typeof UploadOptionsSchema> = {}) {
  async function* requests() {
    yield create(UploadRequestSchema, { part: { case: "header", value: { container, path, options } } });
    yield create(UploadRequestSchema, { part: { case: "data", value: data } });
  }
  return client.upload(requests());
}

export async function list(client: FileClient, container: Ref, path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const r of client.listFiles({ container, path, includeHidden: true })) names.push(...r.entries.map((e) => e.name));
  return names;
}

/** The ConnectError a promise rejects with (fails the test when it resolves). */
export async function rpcError(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected the call to fail");
}
