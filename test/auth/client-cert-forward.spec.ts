// A caller authenticated by a TLS client certificate at one agent, for a pod on another node: the
// forwarding agent verifies the certificate and forwards the call with an identity assertion
// (podfiles-forwarded-user / -groups) beside its own agent credential; the serving agent accepts
// the assertion only from a verified agent and authorizes that user and those groups with
// SubjectAccessReview (the API server's front-proxy model). Two real servers on loopback, wired
// by the agent's own buildAuth; node-a serves TLS with the client CA, node-b cleartext (agents
// reach each other over h2c). Each node has its own stand-in API server, so whose
// SubjectAccessReview saw what is plain.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { agentCredentialCheck } from "../../src/auth/agent-credential.js";
import { kubeReviews } from "../../src/auth/kube-client.js";
import { KubeAuth } from "../../src/auth/kubernetes.js";
import { buildAuth } from "../../src/cli/auth-options.js";
import type { ContainerName } from "../../src/resolve/resolver.js";
import type { Peer } from "../../src/server/forward/forward-call.js";
import { codeAndMessage as code } from "../support/status.js";
import { startTestServer, fileClients, type TestServer } from "../support/server.js";
import { TestCa, type Pem } from "../support/test-ca.js";
import { memoryLogger, startStandInApiServer } from "./support.js";

const podA = { namespace: "ns", pod: "pod-a", container: "c" };
const podB = { namespace: "ns", pod: "pod-b", container: "c" };
const AGENT_SA = "system:serviceaccount:podfiles:podfiles";
const grants = [
  { group: "team-a", namespace: "ns", verbs: ["get", "create", "update", "delete"] },
  { user: "bob", namespace: "ns", verbs: ["get"] },
];
const tokens = {
  "agent-a-sa": { username: AGENT_SA },
  "token-bob": { username: "bob" },
  "token-nogrant": { username: "nobody" },
  "token-other-sa": { username: "system:serviceaccount:default:default" },
};

type Api = Awaited<ReturnType<typeof startStandInApiServer>>;
type Sar = { user?: string; groups?: string[]; uid?: string; resourceAttributes?: Record<string, string> };
const sars = (api: Api) => api.reviews.filter((r) => r.kind === "SubjectAccessReview").map((r) => (r as { spec: Sar }).spec);

describe("a TLS client certificate identity through a forwarding agent", () => {
  let clientCa: TestCa;
  let servingCa: TestCa;
  let alice: Pem;
  let apiA: Api;
  let apiB: Api;
  let a: TestServer;
  let b: TestServer;
  const logA = memoryLogger();
  const logB = memoryLogger();
  const auditB = () => logB.lines.filter((l) => l.msg === "audit");

  beforeAll(async () => {
    clientCa = new TestCa("client-ca");
    servingCa = new TestCa("serving-ca");
    alice = clientCa.issue({ subject: "/CN=alice/O=team-a" });
    apiA = await startStandInApiServer({ tokens, grants });
    apiB = await startStandInApiServer({ tokens, grants });
    const authB = buildAuth({ auth: "kubernetes" }, { host: "127.0.0.1", logger: logB, kubeReviews: kubeReviews(apiB.kubeConfig) });
    b = await startTestServer({
      name: podB,
      ...authB.server,
      logger: logB,
      forward: { self: "node-b", locate: async () => undefined, authenticateCaller: authB.authenticate },
      forwarded: { verifyAgent: agentCredentialCheck(new KubeAuth({ reviews: kubeReviews(apiB.kubeConfig) }), AGENT_SA) },
    });
    const authA = buildAuth({ auth: "kubernetes" }, { host: "127.0.0.1", logger: logA, kubeReviews: kubeReviews(apiA.kubeConfig), clientCertificates: true });
    const serving = servingCa.serving();
    a = await startTestServer({
      name: podA,
      ...authA.server,
      logger: logA,
      tls: { cert: serving.cert, key: serving.key, clientCa: clientCa.cert, allowCleartext: true },
      forward: {
        self: "node-a",
        locate: async (n: ContainerName): Promise<Peer | undefined> => (n.pod === "pod-b" ? { node: "node-b", address: new URL(b.url).host } : undefined),
        agentCredential: () => "Bearer agent-a-sa",
        authenticateCaller: authA.authenticate,
      },
    });
    writeFileSync(join(b.root, "hello.txt"), "hello from b\n");
  }, 30_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await apiA?.close();
    await apiB?.close();
    clientCa?.close();
    servingCa?.close();
  });

  /** A client of node-a over TLS with alice's certificate (gRPC over HTTP/2, or Connect over HTTP/1.1). */
  const viaA = (cert: Pem | undefined, httpVersion: "1.1" | "2", interceptors: Interceptor[] = []) => {
    const nodeOptions = { ca: servingCa.cert, ...(cert ? { cert: cert.cert, key: cert.key } : {}) };
    const baseUrl = a.url;
    const transport =
      httpVersion === "2"
        ? createGrpcTransport({ baseUrl, nodeOptions, interceptors })
        : createConnectTransport({ baseUrl, httpVersion, nodeOptions, interceptors });
    return createClient(FileService, transport);
  };
  const setHeaders =
    (h: Record<string, string>): Interceptor =>
    (next) =>
    (req) => {
      for (const [k, v] of Object.entries(h)) req.header.set(k, v);
      return next(req);
    };

  it("alice's certificate at node-a, pod on node-b: served by node-b, whose SubjectAccessReview sees alice in [team-a, system:authenticated]", async () => {
    const beforeA = sars(apiA).length;
    const beforeB = sars(apiB).length;
    for (const httpVersion of ["2", "1.1"] as const) {
      const st = await viaA(alice, httpVersion).stat({ container: podB, path: "/hello.txt" });
      expect(st.entry?.size).toBe(13n);
    }
    // one review: node-b keeps the decision (--authz-cache-seconds) for the second call
    expect(sars(apiB).slice(beforeB)).toEqual([
      expect.objectContaining({
        user: "alice",
        groups: ["team-a", "system:authenticated"],
        resourceAttributes: expect.objectContaining({ verb: "get", namespace: "ns", name: "pod-b" }),
      }),
    ]);
    // the forwarding agent authenticated (no API call for a certificate) but authorized nothing: the serving agent decides
    expect(sars(apiA).length).toBe(beforeA);
    expect(apiA.calls.tokenReviews).toBe(0);
  });

  it("writes are authorized and audited at node-b as alice, forwarded by node-a", async () => {
    await viaA(alice, "2").makeDirectory({ container: podB, path: "/by-alice" });
    expect(auditB().at(-1)).toMatchObject({
      who: "alice",
      kind: "kubernetes",
      forwarded_by: "node-a",
      method: "podfiles.v1.FileService/MakeDirectory",
      result: "ok",
    });
    expect(sars(apiB).at(-1)).toMatchObject({ user: "alice", groups: ["team-a", "system:authenticated"], resourceAttributes: { verb: "create" } });
  });

  it("the caller's own assertion headers sent to node-a are replaced: alice cannot become bob or join a group", async () => {
    const forge = setHeaders({ "podfiles-forwarded-user": "bob", "podfiles-forwarded-groups": "system:masters" });
    await viaA(alice, "2", [forge]).stat({ container: podB, path: "/hello.txt" });
    expect(sars(apiB).at(-1)).toMatchObject({ user: "alice", groups: ["team-a", "system:authenticated"] });
  });

  it("a bearer token at node-a still travels as itself (no assertion): bob is TokenReviewed at node-b", async () => {
    const bobReviews = () => apiB.reviews.filter((r) => r.kind === "TokenReview" && (r as { spec: { token?: string } }).spec.token === "token-bob").length;
    const before = bobReviews();
    const st = await viaA(undefined, "2").stat({ container: podB, path: "/hello.txt" }, { headers: { authorization: "Bearer token-bob" } });
    expect(st.entry?.name).toBe("hello.txt");
    expect(bobReviews()).toBe(before + 1);
    expect(sars(apiB).at(-1)).toMatchObject({ user: "bob" });
  });

  describe("forged assertions sent straight to node-b: UNAUTHENTICATED, never alice", () => {
    const forged = { "podfiles-forwarded-user": "alice", "podfiles-forwarded-groups": "team-a,system:authenticated" };
    const cases: [string, Record<string, string>][] = [
      ["without the hop marker", forged],
      ["with the hop marker and no agent credential", { ...forged, "podfiles-forwarded-by": "node-a" }],
      ["with the hop marker and a forged agent credential", { ...forged, "podfiles-forwarded-by": "node-a", "podfiles-agent-authorization": "Bearer forged" }],
      [
        "with the hop marker and another ServiceAccount's token",
        { ...forged, "podfiles-forwarded-by": "node-a", "podfiles-agent-authorization": "Bearer token-other-sa" },
      ],
    ];
    it.each(cases)("%s", async (_, headers) => {
      const before = sars(apiB).length;
      for (const client of Object.values(fileClients(b.url, [setHeaders(headers)]))) {
        const [c] = await code(client.stat({ container: podB, path: "/hello.txt" }));
        expect(c).toBe(Code.Unauthenticated);
      }
      expect(sars(apiB).length).toBe(before);
      expect(auditB().at(-1)).toMatchObject({ who: "unauthenticated", result: "denied" });
    });
  });

  it("a verified agent credential with an Authorization header: the bearer wins over the assertion", async () => {
    const hop = {
      "podfiles-forwarded-by": "node-a",
      "podfiles-agent-authorization": "Bearer agent-a-sa",
      "podfiles-forwarded-user": "alice",
      "podfiles-forwarded-groups": "team-a,system:authenticated",
    };
    const [c, msg] = await code(
      fileClients(b.url, [setHeaders({ ...hop, authorization: "Bearer token-nogrant" })]).grpc.stat({ container: podB, path: "/hello.txt" }),
    );
    expect(c).toBe(Code.PermissionDenied);
    expect(msg).toMatch(/^nobody cannot get/);
    expect(sars(apiB).at(-1)).toMatchObject({ user: "nobody" });
    const [c2] = await code(
      fileClients(b.url, [setHeaders({ ...hop, authorization: "Bearer not-a-token" })]).grpc.stat({ container: podB, path: "/hello.txt" }),
    );
    expect(c2).toBe(Code.Unauthenticated);
  });

  it("a verified agent with a malformed assertion: UNAUTHENTICATED saying so, no review", async () => {
    const hop = { "podfiles-forwarded-by": "node-a", "podfiles-agent-authorization": "Bearer agent-a-sa" };
    const before = sars(apiB).length;
    const malformed: Record<string, string>[] = [
      { "podfiles-forwarded-user": "" },
      { "podfiles-forwarded-user": "al ice" },
      { "podfiles-forwarded-user": "%zz" },
      { "podfiles-forwarded-user": "alice", "podfiles-forwarded-groups": "team-a,,x" },
      { "podfiles-forwarded-groups": "team-a" },
    ];
    for (const bad of malformed) {
      const [c, msg] = await code(fileClients(b.url, [setHeaders({ ...hop, ...bad })]).grpc.stat({ container: podB, path: "/hello.txt" }));
      expect([c, msg]).toEqual([Code.Unauthenticated, expect.stringMatching(/forwarded identity/)]);
    }
    expect(sars(apiB).length).toBe(before);
  });

  it("a verified agent's well-formed assertion is what node-b authorizes (the serving side on its own)", async () => {
    const hop = { "podfiles-forwarded-by": "node-a", "podfiles-agent-authorization": "Bearer agent-a-sa" };
    const st = await fileClients(b.url, [
      setHeaders({ ...hop, "podfiles-forwarded-user": "dave%2C%20jr%C3%A9", "podfiles-forwarded-groups": "team-a,system%3Aauthenticated,x%2Cy" }),
    ]).connectJson.stat({ container: podB, path: "/hello.txt" });
    expect(st.entry?.name).toBe("hello.txt");
    expect(sars(apiB).at(-1)).toMatchObject({ user: "dave, jré", groups: ["team-a", "system:authenticated", "x,y"] });
    // no group: the user alone (carol has no grant)
    const [c, msg] = await code(
      fileClients(b.url, [setHeaders({ ...hop, "podfiles-forwarded-user": "carol" })]).grpc.stat({ container: podB, path: "/hello.txt" }),
    );
    expect([c, msg]).toEqual([Code.PermissionDenied, expect.stringMatching(/^carol cannot get/)]);
    expect(sars(apiB).at(-1)).toMatchObject({ user: "carol", groups: [] });
  });
});
