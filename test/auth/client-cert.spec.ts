// TLS client certificates as Kubernetes identities (CN = user, O = groups), verified against the
// client CA by a real TLS server on loopback (createServer + the auth interceptor, TLS and
// cleartext on one port) and authorized by SubjectAccessReview at the stand-in API server, through
// @grpc/grpc-js, the Connect SDK (HTTP/2 and HTTP/1.1) and curl --cert. Certificates: openssl.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { kubeReviews } from "../../src/auth/kube-client.js";
import { repoRoot } from "../clients/support.js";
import { codeAndMessage as code } from "../support/status.js";
import { TestCa, type Pem } from "../support/test-ca.js";
import { bearer, startAuthServer, startStandInApiServer, type AuthTestServer } from "./support.js";

const container = { namespace: "local", pod: "local", container: "local" };
const pkg = grpc.loadPackageDefinition(
  protoLoader.loadSync("podfiles/v1/files.proto", {
    includeDirs: [join(repoRoot, "proto")],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  }),
) as any;

describe("TLS client certificates (openssl test CAs, stand-in API server)", () => {
  let clientCa: TestCa;
  let otherCa: TestCa;
  let servingCa: TestCa;
  let api: Awaited<ReturnType<typeof startStandInApiServer>>;
  let s: AuthTestServer;
  let https: string;
  let certs: Record<"alice" | "carol" | "stranger" | "expired" | "serverOnly" | "noCn", Pem>;

  beforeAll(async () => {
    clientCa = new TestCa("client-ca");
    otherCa = new TestCa("other-ca");
    servingCa = new TestCa("serving-ca");
    certs = {
      alice: clientCa.issue({ subject: "/CN=alice/O=team-a" }),
      carol: clientCa.issue({ subject: "/CN=carol/O=team-c" }),
      // same subject as alice, but signed by a CA the server does not trust
      stranger: otherCa.issue({ subject: "/CN=alice/O=team-a" }),
      expired: clientCa.issue({ subject: "/CN=alice/O=team-a", startDate: "20200101000000Z", endDate: "20200102000000Z" }),
      // signed by the client CA, but for servers only (extendedKeyUsage serverAuth)
      serverOnly: clientCa.issue({ subject: "/CN=alice/O=team-a", eku: "serverAuth" }),
      noCn: clientCa.issue({ subject: "/O=team-a" }),
    };
    api = await startStandInApiServer({
      tokens: { "token-bob": { username: "bob" }, "token-nogrant": { username: "nobody" } },
      grants: [
        { group: "team-a", namespace: "local", verbs: ["get", "create", "update", "delete"] },
        { user: "bob", namespace: "local", verbs: ["get"] },
      ],
    });
    const serving = servingCa.serving();
    s = await startAuthServer(
      { kubernetes: { reviews: kubeReviews(api.kubeConfig), clientCertificates: true } },
      { tls: { cert: serving.cert, key: serving.key, clientCa: clientCa.cert, allowCleartext: true } },
    );
    https = `https://127.0.0.1:${s.port}`;
    writeFileSync(join(s.root, "hello.txt"), "hello\n");
  });
  afterAll(async () => {
    await s?.close();
    await api?.close();
    for (const ca of [clientCa, otherCa, servingCa]) ca?.close();
  });

  const grpcJs = (cert?: Pem) =>
    new pkg.podfiles.v1.FileService(
      `127.0.0.1:${s.port}`,
      grpc.credentials.createSsl(Buffer.from(servingCa.cert), cert && Buffer.from(cert.key), cert && Buffer.from(cert.cert)),
    );
  const grpcStat = (cert: Pem | undefined, path = "/hello.txt", metadata = new grpc.Metadata()) =>
    new Promise<[string, string]>((resolve) => {
      const c = grpcJs(cert);
      c.Stat({ container, path }, metadata, (err: grpc.ServiceError | null, res: any) => {
        c.close();
        // grpc-js hands grpc-message on as sent, percent-encoding included
        resolve(err ? [grpc.status[err.code], decodeURIComponent(err.details)] : ["OK", res.entry.name]);
      });
    });
  const sdk = (cert: Pem | undefined, httpVersion: "1.1" | "2") => {
    const nodeOptions = { ca: servingCa.cert, ...(cert ? { cert: cert.cert, key: cert.key } : {}) };
    const transport =
      httpVersion === "2" ? createGrpcTransport({ baseUrl: https, nodeOptions }) : createConnectTransport({ baseUrl: https, httpVersion, nodeOptions });
    return createClient(FileService, transport);
  };
  const curl = (args: string[]) =>
    new Promise<{ status: number; body: string }>((resolve, reject) =>
      execFile(
        "curl",
        [
          "-sS",
          "--max-time",
          "10",
          "--cacert",
          servingCa.certFile,
          "-H",
          "content-type: application/json",
          "-d",
          JSON.stringify({ container, path: "/hello.txt" }),
          "-w",
          "\n%{http_code}",
          ...args,
          `${https}/podfiles.v1.FileService/Stat`,
        ],
        (err, stdout) => {
          if (err) return reject(err);
          const i = stdout.lastIndexOf("\n");
          resolve({ body: stdout.slice(0, i), status: Number(stdout.slice(i + 1)) });
        },
      ),
    );
  const lastSar = () => (api.reviews.filter((r) => r.kind === "SubjectAccessReview").at(-1) as { spec: Record<string, unknown> } | undefined)?.spec;

  it("a certificate of the client CA (CN=alice, O=team-a) is alice in team-a: grpc-js reads, SubjectAccessReview sees exactly that user and groups, no TokenReview", async () => {
    const before = { ...api.calls };
    expect(await grpcStat(certs.alice)).toEqual(["OK", "hello.txt"]);
    expect(api.calls.tokenReviews).toBe(before.tokenReviews);
    expect(api.calls.subjectAccessReviews).toBe(before.subjectAccessReviews + 1);
    // system:authenticated: the API server adds it to every user it authenticates, so RBAC sees the same
    expect(lastSar()).toMatchObject({
      user: "alice",
      groups: ["team-a", "system:authenticated"],
      resourceAttributes: { verb: "get", namespace: "local", name: "local" },
    });
    expect(lastSar()).not.toHaveProperty("uid");
  });

  it("the Connect SDK over HTTP/2 (gRPC) and HTTP/1.1 (Connect) with alice's certificate: reads, writes, downloads", async () => {
    const h2 = sdk(certs.alice, "2");
    const h1 = sdk(certs.alice, "1.1");
    expect((await h2.stat({ container, path: "/hello.txt" })).entry?.size).toBe(6n);
    await h1.makeDirectory({ container, path: "/by-alice" });
    expect(s.audit.at(-1)).toMatchObject({ who: "alice", kind: "kubernetes", method: "podfiles.v1.FileService/MakeDirectory" });
    let bytes = 0;
    for await (const m of h2.download({ container, path: "/hello.txt" })) if (m.part.case === "data") bytes += m.part.value.length;
    expect(bytes).toBe(6);
    expect(lastSar()).toMatchObject({ user: "alice", groups: ["team-a", "system:authenticated"] });
  });

  it("curl --cert (HTTP/1.1 and HTTP/2): alice reads; carol (no grant) is PERMISSION_DENIED by name", async () => {
    const ok = await curl(["--http1.1", "--cert", certs.alice.certFile, "--key", certs.alice.keyFile]);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).entry.name).toBe("hello.txt");
    const denied = await curl(["--http2", "--cert", certs.carol.certFile, "--key", certs.carol.keyFile]);
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body)).toMatchObject({ code: "permission_denied" });
    expect(JSON.parse(denied.body).message).toMatch(/^carol cannot get resource "containerfiles"/);
    expect(lastSar()).toMatchObject({ user: "carol", groups: ["team-c", "system:authenticated"] });
  });

  it("a certificate of another CA with the same subject → UNAUTHENTICATED, no review at all", async () => {
    const before = { ...api.calls };
    const [c, msg] = await grpcStat(certs.stranger);
    expect(c).toBe("UNAUTHENTICATED");
    expect(msg).toMatch(/^TLS client certificate not accepted \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/);
    expect(await code(sdk(certs.stranger, "1.1").stat({ container, path: "/" }))).toEqual([Code.Unauthenticated, expect.stringMatching(/not accepted/)]);
    expect(api.calls).toEqual(before);
  });

  it("an expired certificate of the client CA → UNAUTHENTICATED naming the reason", async () => {
    const [c, msg] = await grpcStat(certs.expired);
    expect(c).toBe("UNAUTHENTICATED");
    expect(msg).toMatch(/CERT_HAS_EXPIRED/);
    const res = await curl(["--cert", certs.expired.certFile, "--key", certs.expired.keyFile]);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body).message).toMatch(/CERT_HAS_EXPIRED/);
  });

  it("a certificate of the client CA whose extended key usage is serverAuth only → UNAUTHENTICATED (as the API server refuses it)", async () => {
    const [c, msg] = await grpcStat(certs.serverOnly);
    expect(c).toBe("UNAUTHENTICATED");
    expect(msg).toMatch(/INVALID_PURPOSE/);
  });

  it("a verified certificate without a CN → UNAUTHENTICATED saying so", async () => {
    expect(await grpcStat(certs.noCn)).toEqual(["UNAUTHENTICATED", "TLS client certificate has no common name (CN): the CN is the Kubernetes user name"]);
  });

  it("TLS without a certificate: a bearer token works; nothing → UNAUTHENTICATED naming both ways in", async () => {
    const md = new grpc.Metadata();
    md.set("authorization", "Bearer token-bob");
    expect(await grpcStat(undefined, "/hello.txt", md)).toEqual(["OK", "hello.txt"]);
    expect((await sdk(undefined, "1.1").stat({ container, path: "/hello.txt" }, bearer("token-bob"))).entry?.name).toBe("hello.txt");
    expect(await grpcStat(undefined)).toEqual([
      "UNAUTHENTICATED",
      "no credentials: send Authorization: Bearer <token> or a TLS client certificate signed by the cluster's client CA",
    ]);
  });

  it("a bearer token wins over the certificate: alice's certificate with nobody's token is nobody", async () => {
    const [c, msg] = await code(sdk(certs.alice, "2").stat({ container, path: "/hello.txt" }, bearer("token-nogrant")));
    expect(c).toBe(Code.PermissionDenied);
    expect(msg).toMatch(/^nobody cannot get/);
    const [c2, msg2] = await code(sdk(certs.alice, "1.1").stat({ container, path: "/hello.txt" }, bearer("not-a-token")));
    expect(c2).toBe(Code.Unauthenticated);
    expect(msg2).toMatch(/invalid token/);
  });

  it("cleartext on the same port still serves (h2c gRPC and HTTP/1.1 Connect) with a bearer token, and never has a certificate identity", async () => {
    const base = `http://127.0.0.1:${s.port}`;
    expect([s.url, s.cleartextUrl]).toEqual([https, base]);
    const h2c = createClient(FileService, createGrpcTransport({ baseUrl: base }));
    const h1 = createClient(FileService, createConnectTransport({ baseUrl: base, httpVersion: "1.1" }));
    expect((await h2c.stat({ container, path: "/hello.txt" }, bearer("token-bob"))).entry?.name).toBe("hello.txt");
    expect((await h1.stat({ container, path: "/hello.txt" }, bearer("token-bob"))).entry?.name).toBe("hello.txt");
    expect((await code(h1.stat({ container, path: "/hello.txt" })))[0]).toBe(Code.Unauthenticated);
    const plain = grpcJsCleartext(s.port);
    const md = new grpc.Metadata();
    md.set("authorization", "Bearer token-bob");
    const got = await new Promise<string>((resolve) =>
      plain.Stat({ container, path: "/hello.txt" }, md, (err: grpc.ServiceError | null) => resolve(err ? grpc.status[err.code] : "OK")),
    );
    plain.close();
    expect(got).toBe("OK");
  });

  it("without allowCleartext a TLS port stays TLS only: a cleartext request gets no answer", async () => {
    const serving = servingCa.serving();
    const tlsOnly = await startAuthServer(
      { kubernetes: { reviews: kubeReviews(api.kubeConfig), clientCertificates: true } },
      { tls: { cert: serving.cert, key: serving.key, clientCa: clientCa.cert } },
    );
    try {
      expect(tlsOnly.cleartextUrl).toBeUndefined();
      const plain = createClient(FileService, createConnectTransport({ baseUrl: `http://127.0.0.1:${tlsOnly.port}`, httpVersion: "1.1" }));
      // the TLS server reads the request line as a broken handshake and drops the connection: ABORTED ("socket hang up")
      const [c, msg] = await code(plain.stat({ container, path: "/" }, { ...bearer("token-bob"), timeoutMs: 5000 }));
      expect([c, msg]).toEqual([Code.Aborted, expect.stringMatching(/socket hang up/)]);
      const h1 = createClient(
        FileService,
        createConnectTransport({
          baseUrl: `https://127.0.0.1:${tlsOnly.port}`,
          httpVersion: "1.1",
          nodeOptions: { ca: servingCa.cert, cert: certs.alice.cert, key: certs.alice.key },
        }),
      );
      expect((await h1.stat({ container, path: "/" })).entry?.path).toBe("/");
    } finally {
      await tlsOnly.close();
    }
  });
});

const grpcJsCleartext = (port: number) => new pkg.podfiles.v1.FileService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
