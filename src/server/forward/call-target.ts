// Which pod a FileService call is for, read from the request itself before anyone serves it: the
// first enveloped message of a streaming protocol (gRPC, gRPC-Web, Connect streaming; proto or
// JSON), the whole body of a Connect unary POST, or the ?message= of a Connect unary GET. Only
// that one message is decoded; the bytes read are put back at the front of the request stream
// (Readable.unshift, in the same tick as the last read, so the stream cannot emit 'end' in
// between), so the call is then served locally or forwarded byte for byte as it arrived.
import type * as http from "node:http";
import type * as http2 from "node:http2";
import { fromBinary, fromJson, type DescMessage, type Message } from "@bufbuild/protobuf";
import { FileService, type ContainerRef } from "../../../gen/ts/podfiles/v1/files_pb.js";

export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

export const FILE_SERVICE_PREFIX = `/${FileService.typeName}/`;

/** The FileService method a request calls (by its URL path), or undefined for anything else. */
export function fileServiceMethod(req: NodeRequest) {
  const url = req.url ?? "";
  if (!url.startsWith(FILE_SERVICE_PREFIX)) return undefined;
  const name = url.slice(FILE_SERVICE_PREFIX.length).split("?")[0];
  return FileService.methods.find((m) => m.name === name);
}

export type CallTarget =
  /** the ContainerRef the call names (the request stream is as it arrived) */
  | { kind: "target"; container: ContainerRef }
  /** no target could be read (unknown protocol, compressed, malformed, no ref): serve it locally, which answers with the right error */
  | { kind: "unknown"; reason: string }
  /** the request stream failed or was aborted while it was read: nothing left to answer */
  | { kind: "gone" };

type Shape = { enveloped: boolean; json: boolean } | undefined;

/** How the request's first message is framed, by content type (undefined: not a protocol we read). */
function shapeOf(req: NodeRequest): Shape {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  const compressed = (name: string) => {
    const v = req.headers[name];
    return typeof v === "string" && v !== "identity";
  };
  if (/^application\/(grpc|grpc-web|connect)(\+(proto|json))?$/.test(type)) {
    if (type === "application/connect") return undefined;
    if (compressed("grpc-encoding") || compressed("connect-content-encoding")) return undefined;
    return { enveloped: true, json: type.endsWith("+json") };
  }
  if (type === "application/proto" || type === "application/json") {
    if (compressed("content-encoding")) return undefined;
    return { enveloped: false, json: type === "application/json" };
  }
  return undefined;
}

/**
 * Reads the call's target. maxBytes caps what is read (the server's largest message: a
 * WriteUploadChunk carries up to 4 MiB of data beside its ContainerRef, and the local path
 * buffers the same message anyway).
 */
export async function readCallTarget(req: NodeRequest, maxBytes: number): Promise<CallTarget> {
  const method = fileServiceMethod(req);
  if (!method) return { kind: "unknown", reason: "not a FileService method" };
  if (req.method === "GET") return fromGet(req, method.input);
  if (req.method !== "POST") return { kind: "unknown", reason: `HTTP ${req.method}` };
  const shape = shapeOf(req);
  if (!shape) return { kind: "unknown", reason: `content type ${req.headers["content-type"] ?? "(none)"} with its encoding is not read for forwarding` };

  const peeked = await peek(req, maxBytes, shape.enveloped ? envelopeLength : () => undefined);
  if (peeked.kind !== "ok") return peeked.kind === "gone" ? peeked : { kind: "unknown", reason: peeked.reason };
  let bytes = peeked.head;
  if (shape.enveloped) {
    if (bytes.length < 5) return { kind: "unknown", reason: "no complete first message" };
    if (bytes[0]! & 1) return { kind: "unknown", reason: "compressed message" };
    bytes = bytes.subarray(5, 5 + bytes.readUInt32BE(1));
  }
  return decode(method.input, bytes, shape.json);
}

function fromGet(req: NodeRequest, schema: DescMessage): CallTarget {
  const query = new URL(req.url ?? "", "http://x").searchParams;
  const message = query.get("message");
  if (message === null) return { kind: "unknown", reason: "GET without ?message=" };
  if (query.get("compression") && query.get("compression") !== "identity") return { kind: "unknown", reason: "compressed message" };
  const json = query.get("encoding") !== "proto";
  const bytes = query.get("base64") === "1" ? Buffer.from(message, "base64url") : Buffer.from(message, "utf8");
  return decode(schema, bytes, json);
}

function decode(schema: DescMessage, bytes: Uint8Array, json: boolean): CallTarget {
  let msg: Message;
  try {
    msg = json ? fromJson(schema, JSON.parse(Buffer.from(bytes).toString("utf8")), { ignoreUnknownFields: true }) : fromBinary(schema, bytes);
  } catch (err) {
    return { kind: "unknown", reason: `undecodable ${schema.typeName}: ${String(err)}` };
  }
  const container = containerOf(msg);
  return container ? { kind: "target", container } : { kind: "unknown", reason: `${schema.typeName} names no container` };
}

/** Every request names its container in field 1, except UploadRequest (its first message's header). */
function containerOf(msg: Message): ContainerRef | undefined {
  const m = msg as { container?: ContainerRef; part?: { case?: string; value?: { container?: ContainerRef } } };
  if (m.container) return m.container;
  if (m.part?.case === "header") return m.part.value?.container;
  return undefined;
}

/** Bytes needed in all for the first envelope, once its 5-byte prefix is known. */
function envelopeLength(head: Buffer): number | undefined {
  return head.length >= 5 ? 5 + head.readUInt32BE(1) : undefined;
}

type Peeked = { kind: "ok"; head: Buffer } | { kind: "unknown"; reason: string } | { kind: "gone" };

/** Has the request body ended (everything the caller sent has been pushed into the stream)? */
function bodyEnded(req: NodeRequest): boolean {
  const stream = (req as http2.Http2ServerRequest).stream;
  if (stream) return stream.readableEnded || stream.destroyed;
  return (req as http.IncomingMessage).complete;
}

/**
 * Reads from the request until `needed(head)` bytes have arrived (undefined: read to the end),
 * and puts them back. At most maxBytes (+5 for an envelope prefix) are held.
 */
function peek(req: NodeRequest, maxBytes: number, needed: (head: Buffer) => number | undefined): Promise<Peeked> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let settled = false;
    let prefix = Buffer.alloc(0);
    let want: number | undefined;
    const finish = (result: Peeked) => {
      if (settled) return;
      settled = true;
      req.off("readable", onReadable);
      req.off("error", onGone);
      req.off("close", onGone);
      // the same tick as the last read(): the stream still holds these bytes when it next decides whether it has ended
      if (length > 0 && !req.destroyed) req.unshift(Buffer.concat(chunks, length));
      resolve(result);
    };
    const onGone = () => {
      if (settled) return;
      settled = true;
      req.off("readable", onReadable);
      resolve({ kind: "gone" });
    };
    const onReadable = () => {
      for (let chunk: Buffer | null; (chunk = req.read() as Buffer | null) !== null; ) {
        chunks.push(chunk);
        length += chunk.length;
        // the envelope prefix is assembled once; the message itself is joined only when complete
        if (want === undefined && prefix.length < 5) {
          prefix = Buffer.concat([prefix, chunk.subarray(0, 5 - prefix.length)]);
          want = needed(prefix);
          if (want !== undefined && want - 5 > maxBytes) return finish({ kind: "unknown", reason: `first message larger than ${maxBytes} bytes` });
        }
        if (want !== undefined && length >= want) return finish({ kind: "ok", head: Buffer.concat(chunks, length) });
        if (want === undefined && length > maxBytes + 5) return finish({ kind: "unknown", reason: `body larger than ${maxBytes} bytes` });
      }
      if (bodyEnded(req)) finish({ kind: "ok", head: Buffer.concat(chunks, length) });
    };
    req.on("error", onGone);
    req.on("close", onGone);
    req.on("readable", onReadable);
  });
}
