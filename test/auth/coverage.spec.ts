// Every RPC is behind the auth interceptor: this enumerates FileService and
// AuthService from the generated descriptors and calls each method without
// credentials over gRPC, Connect (JSON and binary) and gRPC-Web — streaming
// methods and the chunked upload included. It fails if any method answers
// anything but UNAUTHENTICATED. A control run without auth shows that the
// same probes do reach the handlers, so the test cannot pass vacuously.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, type DescMessage, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { AuthService } from "../../gen/ts/podfiles/v1/auth_pb.js";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { bearer, hsSecret, key, rawRequest, startAuthServer, type AuthTestServer } from "./support.js";
import jwt from "jsonwebtoken";

const ref = { namespace: "local", pod: "local", container: "local" };

/** A plausible request: the test container, a path, every field a handler would look at. */
function probe(schema: DescMessage): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  for (const f of schema.fields) {
    if (f.localName === "container") init.container = ref;
    if (f.localName === "path") init.path = "/probe";
    if (f.localName === "newPath") init.newPath = "/probe2";
    if (f.localName === "uploadId") init.uploadId = "0123456789abcdef";
    if (f.localName === "destination") init.destination = ref;
    if (f.localName === "destinationPath") init.destinationPath = "/probe3";
  }
  return init;
}

async function call(transport: Transport, service: DescService, method: DescMethod, headers?: Record<string, string>): Promise<Code | "ok"> {
  const client = createClient(service, transport) as unknown as Record<string, (...args: unknown[]) => unknown>;
  const fn = client[method.localName];
  const options = headers ? { headers } : {};
  try {
    switch (method.methodKind) {
      case "unary":
        await fn(create(method.input, probe(method.input)), options);
        break;
      case "server_streaming":
        for await (const _ of fn(create(method.input, probe(method.input)), options) as AsyncIterable<unknown>) void _;
        break;
      case "client_streaming": {
        // Upload: a header naming the container, then data
        async function* messages() {
          yield create(method.input, { part: { case: "header", value: { container: ref, path: "/probe" } } } as never);
          yield create(method.input, { part: { case: "data", value: new Uint8Array([1, 2, 3]) } } as never);
        }
        await fn(messages(), options);
        break;
      }
      case "bidi_streaming":
        throw new Error(`bidi method ${method.name}: add a probe`);
    }
    return "ok";
  } catch (err) {
    return ConnectError.from(err).code;
  }
}

function transports(url: string): Record<string, Transport> {
  return {
    grpc: createGrpcTransport({ baseUrl: url }),
    connectJson: createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
    connectBinaryH2: createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: true }),
    grpcWeb: createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" }),
  };
}

const protectedMethods = [
  ...FileService.methods.map((m) => [FileService, m] as const),
  ...AuthService.methods.filter((m) => m.name !== "IssueToken").map((m) => [AuthService, m] as const),
];

describe("every RPC requires authentication", () => {
  let s: AuthTestServer;
  const secret = hsSecret();
  beforeAll(async () => {
    s = await startAuthServer({ jwt: { keys: [key("k", secret)] } });
  });
  afterAll(() => s?.close());

  it("enumerates the services (12 FileService methods incl. 2 streaming, 1 client-streaming, the 5 chunked-upload calls; AuthService.WhoAmI)", () => {
    expect(FileService.methods.map((m) => m.name)).toEqual(
      expect.arrayContaining([
        "ListFiles",
        "Stat",
        "Download",
        "Upload",
        "BeginUpload",
        "WriteUploadChunk",
        "QueryUpload",
        "CommitUpload",
        "AbortUpload",
        "MakeDirectory",
        "Remove",
        "Rename",
      ]),
    );
    expect(FileService.methods.filter((m) => m.methodKind !== "unary").map((m) => `${m.name}:${m.methodKind}`)).toEqual([
      "ListFiles:server_streaming",
      "Download:server_streaming",
      "Upload:client_streaming",
      "Copy:server_streaming",
      "ListContainers:server_streaming",
      "Find:server_streaming",
      "DiskUsage:server_streaming",
      "Tail:server_streaming",
    ]);
    expect(protectedMethods.length).toBe(FileService.methods.length + AuthService.methods.length - 1);
  });

  for (const [service, method] of protectedMethods) {
    it(`${service.typeName}/${method.name} (${method.methodKind}) without credentials → UNAUTHENTICATED on every protocol`, async () => {
      const got: Record<string, string> = {};
      for (const [name, t] of Object.entries(transports(s.url))) got[name] = String(await call(t, service, method));
      expect(got).toEqual(Object.fromEntries(Object.keys(got).map((k) => [k, String(Code.Unauthenticated)])));
    });
  }

  it("with a valid token but an empty grant, every FileService method is PERMISSION_DENIED (ListContainers: nothing listed)", async () => {
    const token = jwt.sign({ scopes: { namespaces: ["nowhere"], verbs: ["get"] } }, secret, {
      algorithm: "HS256",
      keyid: "k",
      issuer: "podfiles",
      audience: "podfiles",
      subject: "nobody",
      expiresIn: 60,
    });
    const t = transports(s.url).grpc;
    for (const method of FileService.methods.filter((m) => m.name !== "ListContainers"))
      expect([method.name, await call(t, FileService, method, bearer(token).headers)]).toEqual([method.name, Code.PermissionDenied]);
  });

  it("IssueToken, health and reflection stay open (IssueToken checks Basic itself)", async () => {
    const t = transports(s.url).connectJson;
    const issue = AuthService.methods.find((m) => m.name === "IssueToken")!;
    // open, but without Basic credentials it is still UNAUTHENTICATED, by its own check
    expect(await call(t, AuthService, issue)).toBe(Code.FailedPrecondition); // no clients configured on this server
    const res = await rawRequest(`${s.url}/grpc.health.v1.Health/Check`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(res.status).toBe(200);
  });
});

describe("control: without auth the same probes reach the handlers", () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer();
  });
  afterAll(() => s?.close());

  it("no FileService method answers UNAUTHENTICATED when auth is off", async () => {
    const t = transports(s.url).grpc;
    for (const method of FileService.methods) expect([method.name, await call(t, FileService, method)]).not.toEqual([method.name, Code.Unauthenticated]);
  });
});
