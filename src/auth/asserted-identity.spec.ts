// Both ends of a forwarded certificate identity, with a KubeReviews that counts its calls (a
// certificate and an assertion need none; only a bearer token is reviewed).
import { describe, expect, it } from "vitest";
import { assertedIdentity } from "./asserted-identity.js";
import { callerToForward } from "./caller-to-forward.js";
import { KubeAuth, type KubeReviews } from "./kubernetes.js";

const counting = () => {
  const calls = { tokenReview: 0 };
  const reviews: KubeReviews = {
    tokenReview: async (token) => (
      calls.tokenReview++,
      token === "bob"
        ? { authenticated: true, user: { username: "bob", groups: ["system:authenticated"] } }
        : { authenticated: false, error: "invalid bearer token" }
    ),
    subjectAccessReview: async () => ({ allowed: false }),
  };
  return { calls, kubernetes: new KubeAuth({ reviews }) };
};
const headers = (h: Record<string, string>) => (n: string) => h[n] ?? null;
const alice = { authorized: true, subject: { CN: "alice", O: ["team-a"] } };

describe("assertedIdentity (the serving agent)", () => {
  const { kubernetes } = counting();
  const assertion = headers({ "podfiles-forwarded-user": "alice", "podfiles-forwarded-groups": "team-a,system:authenticated" });

  it("believes a well-formed assertion from a verified agent: a Kubernetes user for SubjectAccessReview", () => {
    expect(assertedIdentity(assertion, "node-a", { kubernetes })).toEqual({
      name: "alice",
      kind: "kubernetes",
      user: { username: "alice", groups: ["team-a", "system:authenticated"] },
    });
  });

  it("ignores the headers when no verified agent forwarded the call, and without headers there is nothing to believe", () => {
    expect(assertedIdentity(assertion, undefined, { kubernetes })).toBeUndefined();
    expect(assertedIdentity(headers({}), "node-a", { kubernetes })).toBeUndefined();
  });

  it("refuses an assertion it cannot authorize (no --auth kubernetes here)", () => {
    expect(() => assertedIdentity(assertion, "node-a", {})).toThrow(/needs --auth kubernetes/);
  });
});

describe("callerToForward (the forwarding agent)", () => {
  it("a verified certificate without Authorization: its user and groups are asserted, no API call", async () => {
    const { calls, kubernetes } = counting();
    expect(await callerToForward({ kubernetes, clientCertificates: true })(null, alice)).toEqual({ user: "alice", groups: ["team-a", "system:authenticated"] });
    expect(calls.tokenReview).toBe(0);
  });

  it("a bearer token travels as itself (nothing asserted), even beside a certificate; an invalid one is UNAUTHENTICATED", async () => {
    const { kubernetes } = counting();
    const check = callerToForward({ kubernetes, clientCertificates: true });
    expect(await check("Bearer bob", alice)).toBeUndefined();
    await expect(check("Bearer nope", alice)).rejects.toThrow(/invalid bearer token/);
  });

  it("an unverified certificate, or certificates off: UNAUTHENTICATED before anything is forwarded", async () => {
    const { kubernetes } = counting();
    await expect(
      callerToForward({ kubernetes, clientCertificates: true })(null, { ...alice, authorized: false, authorizationError: "CERT_HAS_EXPIRED" }),
    ).rejects.toThrow(/CERT_HAS_EXPIRED/);
    await expect(callerToForward({ kubernetes })(null, alice)).rejects.toThrow(/no credentials/);
  });
});
