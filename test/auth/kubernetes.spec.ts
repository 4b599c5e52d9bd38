// Kubernetes identities: TokenReview + SubjectAccessReview on
// containerfiles.podfiles.io, against the stand-in API server (a real API
// server runs in test/auth/cluster.spec.ts when the cluster harness is up).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { kubeReviews } from "../../src/auth/kube-client.js";
import { bearer, hsSecret, key, startAuthServer, startStandInApiServer, type AuthTestServer } from "./support.js";
import jwt from "jsonwebtoken";
import { codeAndMessage as code } from "../support/status.js";

describe("Kubernetes tokens (stand-in API server)", () => {
  let api: Awaited<ReturnType<typeof startStandInApiServer>>;
  let s: AuthTestServer;
  let ref: AuthTestServer["container"];
  const secret = hsSecret();

  beforeAll(async () => {
    api = await startStandInApiServer({
      tokens: {
        "token-reader": { username: "system:serviceaccount:local:reader", audiences: ["podfiles"] },
        "token-writer": { username: "system:serviceaccount:local:writer", audiences: ["podfiles"] },
        "token-nogrant": { username: "system:serviceaccount:local:nobody", audiences: ["podfiles"] },
        "token-apiserver-aud": { username: "system:serviceaccount:local:writer" },
      },
      grants: [
        { user: "system:serviceaccount:local:reader", namespace: "local", verbs: ["get"] },
        { user: "system:serviceaccount:local:writer", namespace: "local", verbs: ["get", "create", "update", "delete"], pods: ["local"] },
      ],
    });
    s = await startAuthServer({
      kubernetes: { reviews: kubeReviews(api.kubeConfig), audiences: ["podfiles"], tokenCacheSeconds: 30, authzCacheSeconds: 30 },
      jwt: { keys: [key("k", secret)] },
    });
    ref = s.container;
  });
  afterAll(async () => {
    await s?.close();
    await api?.close();
  });

  it("(stand-in API server) a token without the RBAC grant → PERMISSION_DENIED naming verb and resource", async () => {
    const [c, msg] = await code(s.clients.grpc.stat({ container: ref, path: "/" }, bearer("token-nogrant")));
    expect(c).toBe(Code.PermissionDenied);
    expect(msg).toBe(
      'system:serviceaccount:local:nobody cannot get resource "containerfiles" in API group "podfiles.io" for pod "local" in the namespace "local" (path /)',
    );
    const sar = api.reviews.find((r) => r.kind === "SubjectAccessReview") as { spec: Record<string, unknown> };
    expect(sar.spec).toMatchObject({
      user: "system:serviceaccount:local:nobody",
      groups: ["system:authenticated"],
      resourceAttributes: { group: "podfiles.io", resource: "containerfiles", verb: "get", namespace: "local", name: "local" },
    });
    const tr = api.reviews.find((r) => r.kind === "TokenReview") as { spec: Record<string, unknown> };
    expect(tr.spec).toEqual({ token: "token-nogrant", audiences: ["podfiles"] });
  });

  it("(stand-in API server) a token with the grant: reads; a read-only grant cannot write; a read-write grant can", async () => {
    expect((await s.clients.connectJson.stat({ container: ref, path: "/" }, bearer("token-reader"))).entry?.path).toBe("/");
    const [c, msg] = await code(s.clients.connectJson.makeDirectory({ container: ref, path: "/k" }, bearer("token-reader")));
    expect(c).toBe(Code.PermissionDenied);
    expect(msg).toMatch(/cannot create resource "containerfiles" in API group "podfiles.io"/);
    await s.clients.grpcWeb.makeDirectory({ container: ref, path: "/k" }, bearer("token-writer"));
    await s.clients.grpc.rename({ container: ref, path: "/k", newPath: "/k2" }, bearer("token-writer"));
    await s.clients.grpc.remove({ container: ref, path: "/k2" }, bearer("token-writer"));
    const who = await s.auth.whoAmI({}, bearer("token-writer"));
    expect(who).toMatchObject({ name: "system:serviceaccount:local:writer", kind: "kubernetes", groups: ["system:authenticated"] });
    // the verbs the SubjectAccessReviews asked for, in order
    const verbs = api.reviews
      .filter((r) => r.kind === "SubjectAccessReview" && (r.spec as { user: string }).user.endsWith(":writer"))
      .map((r) => (r.spec as { resourceAttributes: { verb: string } }).resourceAttributes.verb);
    expect(verbs).toEqual(["create", "update", "delete"]); // Rename: update (source) + create (target, cached from MakeDirectory)
  });

  it("(stand-in API server) a grant for another pod does not cover this one", async () => {
    const other = { ...ref, pod: "web-0" };
    const [c, msg] = await code(s.clients.grpc.stat({ container: other, path: "/" }, bearer("token-writer")));
    expect(c).toBe(Code.PermissionDenied);
    expect(msg).toMatch(/for pod "web-0" in the namespace "local"/);
  });

  it("(stand-in API server) a token for another audience and an unknown token → UNAUTHENTICATED", async () => {
    expect(await code(s.clients.grpc.stat({ container: ref, path: "/" }, bearer("token-apiserver-aud")))).toEqual([
      Code.Unauthenticated,
      "invalid token: the Kubernetes API server did not authenticate it (token audiences are invalid for the target audiences)",
    ]);
    expect((await code(s.clients.grpc.stat({ container: ref, path: "/" }, bearer("garbage"))))[0]).toBe(Code.Unauthenticated);
  });

  it("(stand-in API server) TokenReview and SubjectAccessReview results are cached: 50 calls, one review each", async () => {
    const before = { ...api.calls };
    const token = "token-reader";
    await Promise.all(Array.from({ length: 50 }, () => s.clients.grpc.stat({ container: { ...ref, container: "" }, path: "/" }, bearer(token))));
    // at most one of each for this (token, verb, pod) since the earlier test cached them
    expect(api.calls.tokenReviews - before.tokenReviews).toBeLessThanOrEqual(1);
    expect(api.calls.subjectAccessReviews - before.subjectAccessReviews).toBeLessThanOrEqual(1);
    expect(api.calls.unauthorized).toBe(0);
  });

  it("(stand-in API server) podfiles JWTs and Kubernetes tokens work side by side", async () => {
    const token = jwt.sign({ scopes: { namespaces: ["local"], verbs: ["get"] } }, secret, {
      algorithm: "HS256",
      keyid: "k",
      issuer: "podfiles",
      audience: "podfiles",
      subject: "ci",
      expiresIn: 60,
    });
    const before = api.calls.tokenReviews;
    expect((await s.clients.grpc.stat({ container: ref, path: "/" }, bearer(token))).entry?.path).toBe("/");
    expect(api.calls.tokenReviews).toBe(before); // a podfiles token never goes to the API server
  });

  it("(stand-in API server) the API server unreachable → UNAVAILABLE, not cached", async () => {
    const gone = await startStandInApiServer({ tokens: {}, grants: [] });
    await gone.close();
    const s2 = await startAuthServer({ kubernetes: { reviews: kubeReviews(gone.kubeConfig, 2000) } });
    try {
      const [c, msg] = await code(s2.clients.grpc.stat({ container: ref, path: "/" }, bearer("token-reader")));
      expect(c).toBe(Code.Unavailable);
      expect(msg).toMatch(/TokenReview/);
    } finally {
      await s2.close();
    }
  });
});
