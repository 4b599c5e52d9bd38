// The agent credential: the token file re-read when it rotates, the ServiceAccount from its
// claims, and the check against a stand-in TokenReview (KubeAuth over a table of tokens).
import { mkdtempSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ServiceAccountToken, agentCredentialCheck, serviceAccountOf } from "./agent-credential.js";
import { KubeAuth, type KubeReviews } from "./kubernetes.js";

const jwtWith = (claims: object) => `x.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.y`;

/** Stand-in for the API server's TokenReview: a table of tokens → usernames. */
const standInReviews = (users: Record<string, string>): KubeReviews => ({
  async tokenReview(token) {
    const u = users[token];
    return u ? { authenticated: true, user: { username: u, groups: [] } } : { authenticated: false, error: "unknown token" };
  },
  async subjectAccessReview() {
    return { allowed: false };
  },
});

describe("agent credential", () => {
  it("reads the token file and re-reads it when the kubelet rotates it", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "sa-")), "token");
    writeFileSync(file, "one\n");
    const t = new ServiceAccountToken(file);
    expect(t.header()).toBe("Bearer one");
    writeFileSync(file, "two\n");
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    await new Promise((r) => setTimeout(r, 1050));
    expect(t.header()).toBe("Bearer two");
    expect(new ServiceAccountToken(join(file, "nope")).header()).toBeUndefined();
  });

  it("names the ServiceAccount from the token's sub claim", () => {
    expect(serviceAccountOf(jwtWith({ sub: "system:serviceaccount:podfiles:podfiles-agent" }))).toEqual({ namespace: "podfiles", name: "podfiles-agent" });
    expect(serviceAccountOf(jwtWith({ sub: "alice" }))).toBeUndefined();
    expect(serviceAccountOf("garbage")).toBeUndefined();
  });

  it("accepts only the agents' own ServiceAccount", async () => {
    const kube = new KubeAuth({ reviews: standInReviews({ agent: "system:serviceaccount:podfiles:podfiles-agent", alice: "alice" }) });
    const check = agentCredentialCheck(kube, "system:serviceaccount:podfiles:podfiles-agent");
    await expect(check("Bearer agent")).resolves.toBeUndefined();
    await expect(check("Bearer alice")).rejects.toThrow("forwarded call without a valid agent credential (alice is not the agents' ServiceAccount");
    await expect(check("Bearer forged")).rejects.toThrow("forwarded call without a valid agent credential (invalid token");
    await expect(check(null)).rejects.toThrow("no podfiles-agent-authorization header");
    await expect(check("Basic x")).rejects.toThrow("malformed");
  });
});
