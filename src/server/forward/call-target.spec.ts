// readCallTarget on real Node requests (HTTP/1.1 and HTTP/2): the target is found for every
// framing, and the request body afterwards reads exactly as the caller sent it (the bytes read
// were put back), also when the body had already ended and when the envelope arrived in pieces.
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, toBinary, toJson } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DownloadRequestSchema, StatRequestSchema, UploadRequestSchema } from "../../../gen/ts/podfiles/v1/files_pb.js";
import { readCallTarget, type CallTarget, type NodeRequest } from "./call-target.js";

const ref = { namespace: "ns", pod: "p", container: "c" };
const envelope = (bytes: Uint8Array) => {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
};
const statBinary = Buffer.from(toBinary(StatRequestSchema, create(StatRequestSchema, { container: ref, path: "/x" })));
const statJson = Buffer.from(JSON.stringify(toJson(StatRequestSchema, create(StatRequestSchema, { container: ref, path: "/x" }))));

type Seen = { target: CallTarget; body: Buffer };
let last: Promise<Seen> | undefined;
const onRequest = (req: NodeRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
  last = (async () => {
    const target = await readCallTarget(req, 1024 * 1024);
    // read the rest as connect-node does (async iteration), after a pause like an async auth step
    await new Promise((r) => setTimeout(r, 20));
    const parts: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) parts.push(chunk);
    res.end("ok");
    return { target, body: Buffer.concat(parts) };
  })();
};

let h1: http.Server;
let h2: http2.Http2Server;
beforeAll(async () => {
  h1 = http.createServer(onRequest);
  h2 = http2.createServer(onRequest);
  await Promise.all([new Promise<void>((r) => h1.listen(0, "127.0.0.1", r)), new Promise<void>((r) => h2.listen(0, "127.0.0.1", r))]);
});
afterAll(() => {
  h1.close();
  h2.close();
});

/** Sends a body in the given pieces (with a pause between them) and returns what the server saw. */
async function send(version: 1 | 2, path: string, headers: Record<string, string>, pieces: Buffer[], method = "POST"): Promise<Seen> {
  last = undefined;
  if (version === 1) {
    const req = http.request({ host: "127.0.0.1", port: (h1.address() as AddressInfo).port, method, path, headers });
    req.on("response", (r) => r.resume());
    for (const p of pieces) {
      req.write(p);
      await new Promise((r) => setTimeout(r, 10));
    }
    req.end();
  } else {
    const session = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
    const stream = session.request({ ":method": method, ":path": path, ...headers }, { endStream: method === "GET" });
    stream.resume();
    stream.on("close", () => session.close());
    if (method !== "GET") {
      for (const p of pieces) {
        stream.write(p);
        await new Promise((r) => setTimeout(r, 10));
      }
      stream.end();
    }
  }
  for (let i = 0; i < 200 && !last; i++) await new Promise((r) => setTimeout(r, 5));
  return last!;
}

const container = (t: CallTarget) => (t.kind === "target" ? { namespace: t.container.namespace, pod: t.container.pod, container: t.container.container } : t);

describe.each([1, 2] as const)("over HTTP/%i", (version) => {
  it("gRPC-Web / Connect streaming (binary): the first envelope, in pieces; the body is intact afterwards", async () => {
    const body = Buffer.concat([envelope(statBinary), envelope(Buffer.from("second message"))]);
    for (const type of ["application/grpc-web+proto", "application/connect+proto"]) {
      const seen = await send(version, "/podfiles.v1.FileService/Stat", { "content-type": type }, [body.subarray(0, 3), body.subarray(3, 9), body.subarray(9)]);
      expect(container(seen.target)).toEqual(ref);
      expect(seen.body.equals(body)).toBe(true);
    }
  });

  it("Connect streaming JSON and Connect unary JSON / proto (a body that has ended when it is read)", async () => {
    const json = await send(version, "/podfiles.v1.FileService/Stat", { "content-type": "application/connect+json" }, [envelope(statJson)]);
    expect(container(json.target)).toEqual(ref);
    const unary = await send(version, "/podfiles.v1.FileService/Stat", { "content-type": "application/json" }, [statJson]);
    expect(container(unary.target)).toEqual(ref);
    expect(unary.body.equals(statJson)).toBe(true);
    const proto = await send(version, "/podfiles.v1.FileService/Stat", { "content-type": "application/proto" }, [statBinary]);
    expect(container(proto.target)).toEqual(ref);
    expect(proto.body.equals(Buffer.from(statBinary))).toBe(true);
  });

  it("Upload: the first message's header names the container; the data after it is untouched", async () => {
    const first = toBinary(UploadRequestSchema, create(UploadRequestSchema, { part: { case: "header", value: { container: ref, path: "/u" } } }));
    const data = toBinary(UploadRequestSchema, create(UploadRequestSchema, { part: { case: "data", value: new Uint8Array(200_000).fill(7) } }));
    const body = Buffer.concat([envelope(first), envelope(data)]);
    const seen = await send(version, "/podfiles.v1.FileService/Upload", { "content-type": "application/grpc-web+proto" }, [
      body.subarray(0, 100_000),
      body.subarray(100_000),
    ]);
    expect(container(seen.target)).toEqual(ref);
    expect(seen.body.equals(body)).toBe(true);
  });

  it("Connect GET ?message= (nothing read from the body)", async () => {
    const msg = Buffer.from(toBinary(DownloadRequestSchema, create(DownloadRequestSchema, { container: ref, path: "/d" }))).toString("base64url");
    const seen = await send(version, `/podfiles.v1.FileService/Download?connect=v1&encoding=proto&base64=1&message=${msg}`, {}, [], "GET");
    expect(container(seen.target)).toEqual(ref);
  });

  it("what cannot be read is 'unknown' (served locally), with the body intact", async () => {
    const compressed = Buffer.concat([Buffer.from([1, 0, 0, 0, 3]), Buffer.from("abc")]);
    const seen = await send(version, "/podfiles.v1.FileService/Stat", { "content-type": "application/connect+proto" }, [compressed]);
    expect(seen.target.kind).toBe("unknown");
    expect(seen.body.equals(compressed)).toBe(true);
    const garbage = await send(version, "/podfiles.v1.FileService/Stat", { "content-type": "application/proto" }, [Buffer.from([0xff, 0xff, 0xff])]);
    expect(garbage.target.kind).toBe("unknown");
    const noRef = await send(version, "/podfiles.v1.FileService/Stat", { "content-type": "application/json" }, [Buffer.from("{}")]);
    expect(noRef.target).toEqual({ kind: "unknown", reason: "podfiles.v1.StatRequest names no container" });
    const other = await send(version, "/grpc.health.v1.Health/Check", { "content-type": "application/json" }, [Buffer.from("{}")]);
    expect(other.target.kind).toBe("unknown");
  });

  it("a first message larger than the cap is not read further (unknown, body intact)", async () => {
    const big = envelope(Buffer.alloc(2 * 1024 * 1024 + 10, 1));
    const seen = await send(version, "/podfiles.v1.FileService/Stat", { "content-type": "application/connect+proto" }, [big]);
    expect(seen.target).toEqual({ kind: "unknown", reason: "first message larger than 1048576 bytes" });
    expect(seen.body.equals(big)).toBe(true);
  });
});
