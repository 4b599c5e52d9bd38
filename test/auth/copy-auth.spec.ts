// Copy is authorized for the caller on both sides. node-a (the source's agent) checks get on the
// source and create on the destination; node-b (the destination's agent) receives the write as an
// Upload carrying the caller's own token beside node-a's agent credential, and authorizes the
// caller itself. Each node has its own stand-in API server (TokenReview + SubjectAccessReview)
// with its own grants, so a caller node-a would let through can still be refused by node-b.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentCredentialCheck } from "../../src/auth/agent-credential.js";
import { callerCredentials } from "../../src/auth/caller-to-forward.js";
import { kubeReviews } from "../../src/auth/kube-client.js";
import { KubeAuth } from "../../src/auth/kubernetes.js";
import { buildAuth } from "../../src/cli/auth-options.js";
import { createPodfilesClient } from "../../src/index.js";
import type { ContainerName } from "../../src/resolve/resolver.js";
import type { Peer } from "../../src/server/forward/forward-call.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { memoryLogger, startStandInApiServer } from "./support.js";

const podA = { namespace: "ns-a", pod: "pod-a", container: "c" };
const podB = { namespace: "ns-b", pod: "pod-b", container: "c" };
const AGENT_SA = "system:serviceaccount:podfiles:podfiles";
const tokens = {
  "agent-a-sa": { username: AGENT_SA },
  "token-alice": { username: "alice" },
  "token-carol": { username: "carol" },
  "token-bob": { username: "bob" },
  "token-dave": { username: "dave" },
};
// node-a's API server: alice and carol may read pod-a and write pod-b; bob may only read pod-a
const grantsA = [
  { user: "alice", namespace: "ns-a", verbs: ["get"] },
  { user: "alice", namespace: "ns-b", verbs: ["get", "create"] },
  { user: "carol", namespace: "ns-a", verbs: ["get"] },
  { user: "carol", namespace: "ns-b", verbs: ["get", "create"] },
  { user: "bob", namespace: "ns-a", verbs: ["get"] },
  { user: "dave", namespace: "ns-a", verbs: ["get"] },
  { user: "dave", namespace: "ns-b", verbs: ["create"] },
];
// node-b's: alice may write pod-b; carol only read it
const grantsB = [
  { user: "alice", namespace: "ns-b", verbs: ["get", "create"] },
  { user: "carol", namespace: "ns-b", verbs: ["get"] },
  { user: "dave", namespace: "ns-b", verbs: ["create"] },
];

type Api = Awaited<ReturnType<typeof startStandInApiServer>>;

describe("Copy authorized on both sides", () => {
  let apiA: Api;
  let apiB: Api;
  let a: TestServer;
  let b: TestServer;
  const logB = memoryLogger();
  const auditB = () => logB.lines.filter((l) => l.msg === "audit");

  beforeAll(async () => {
    apiA = await startStandInApiServer({ tokens, grants: grantsA });
    apiB = await startStandInApiServer({ tokens, grants: grantsB });
    const authB = buildAuth({ auth: "kubernetes" }, { host: "127.0.0.1", logger: logB, kubeReviews: kubeReviews(apiB.kubeConfig) });
    b = await startTestServer({
      name: podB,
      ...authB.server,
      logger: logB,
      forward: { self: "node-b", locate: async () => undefined, authenticateCaller: authB.authenticate },
      forwarded: { verifyAgent: agentCredentialCheck(new KubeAuth({ reviews: kubeReviews(apiB.kubeConfig) }), AGENT_SA) },
    });
    const authA = buildAuth({ auth: "kubernetes" }, { host: "127.0.0.1", logger: memoryLogger(), kubeReviews: kubeReviews(apiA.kubeConfig) });
    a = await startTestServer({
      name: podA,
      ...authA.server,
      forward: {
        self: "node-a",
        locate: async (n: ContainerName): Promise<Peer | undefined> => (n.pod === "pod-b" ? { node: "node-b", address: new URL(b.url).host } : undefined),
        agentCredential: () => "Bearer agent-a-sa",
        authenticateCaller: authA.authenticate,
        callerCredentials,
      },
    });
    writeFileSync(join(a.root, "secret.txt"), "from pod-a\n");
  }, 30_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await apiA?.close();
    await apiB?.close();
  });

  const as = (token: string) => createPodfilesClient({ baseUrl: a.url, token, container: podA });
  const code = (p: Promise<unknown>) =>
    p.then(
      () => "ok" as const,
      (e: { code: Code }) => e.code,
    );

  it("alice (allowed on both): copied, and node-b's audit names alice, forwarded by node-a", async () => {
    const r = await as("token-alice").copy("/secret.txt", { container: podB, path: "/by-alice.txt" });
    expect(readFileSync(join(b.root, "by-alice.txt"), "utf8")).toBe("from pod-a\n");
    expect(r.bytes).toBe(11);
    expect(auditB().at(-1)).toMatchObject({ who: "alice", forwarded_by: "node-a", method: "podfiles.v1.FileService/Upload", result: "ok" });
  });

  it("bob (read on the source, no create on the destination): PERMISSION_DENIED at node-a, nothing written", async () => {
    const before = auditB().length;
    expect(await code(as("token-bob").copy("/secret.txt", { container: podB, path: "/by-bob.txt" }))).toBe(Code.PermissionDenied);
    expect(existsSync(join(b.root, "by-bob.txt"))).toBe(false);
    expect(auditB().length).toBe(before); // node-b never heard of it
  });

  it("carol (node-a would allow, node-b does not): PERMISSION_DENIED from node-b itself, nothing written", async () => {
    expect(await code(as("token-carol").copy("/secret.txt", { container: podB, path: "/by-carol.txt" }))).toBe(Code.PermissionDenied);
    expect(existsSync(join(b.root, "by-carol.txt"))).toBe(false);
    expect(auditB().at(-1)).toMatchObject({ who: "carol", forwarded_by: "node-a", method: "podfiles.v1.FileService/Upload", result: "denied" });
  });

  it("no token: UNAUTHENTICATED at node-a", async () => {
    expect(await code(createPodfilesClient({ baseUrl: a.url, container: podA }).copy("/secret.txt", { container: podB, path: "/anon.txt" }))).toBe(
      Code.Unauthenticated,
    );
    expect(existsSync(join(b.root, "anon.txt"))).toBe(false);
  });

  it("dave (create on the destination, no get): a file is copied (Copy asks no more); a tree is refused, saying why", async () => {
    await as("token-dave").copy("/secret.txt", { container: podB, path: "/by-dave.txt" });
    expect(readFileSync(join(b.root, "by-dave.txt"), "utf8")).toBe("from pod-a\n");
    // what exists is still refused, by node-b's Upload itself
    expect(await code(as("token-dave").copy("/secret.txt", { container: podB, path: "/by-dave.txt" }))).toBe(Code.AlreadyExists);
    mkdirSync(join(a.root, "tree"), { recursive: true });
    writeFileSync(join(a.root, "tree/x"), "x");
    const refused = await as("token-dave")
      .copy("/tree", { container: podB, path: "/dave-tree" })
      .catch((e: { code: Code; rawMessage: string }) => e);
    expect(refused).toMatchObject({ code: Code.PermissionDenied, rawMessage: expect.stringContaining("copying a directory needs get on the destination") });
    expect(existsSync(join(b.root, "dave-tree"))).toBe(false);
  });
});
