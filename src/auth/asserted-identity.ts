// The serving agent's side of a forwarded certificate identity (the forwarding agent's is
// src/auth/caller-to-forward.ts). The assertion (podfiles-forwarded-user / -groups) is believed only when the
// call's agent credential was verified (the agents' own ServiceAccount, src/auth/agent-credential.ts)
// and no Authorization header came with it; the user and groups are then authorized by
// SubjectAccessReview like any Kubernetes user. This is the API server's front-proxy model
// (requestheader): whoever holds the agents' ServiceAccount token can assert any user, which is
// no more than that token's holder can already do (the agent reads and writes every container's
// files on its node).
import { unauthenticated } from "../errors.js";
import { parseForwardedIdentity } from "../server/forward/forwarded-identity.js";
import type { Identity } from "./identity.js";
import type { KubeAuth } from "./kubernetes.js";

/**
 * The asserted identity of a call, or undefined when there is none to believe: not forwarded by a
 * verified agent (`forwardedBy` undefined; any assertion headers are then ignored), or no assertion.
 * UNAUTHENTICATED for a malformed assertion, or when this agent cannot authorize Kubernetes users.
 */
export function assertedIdentity(get: (name: string) => string | null, forwardedBy: string | undefined, a: { kubernetes?: KubeAuth }): Identity | undefined {
  if (forwardedBy === undefined) return undefined;
  const asserted = parseForwardedIdentity(get);
  if (!asserted) return undefined;
  if (!a.kubernetes)
    throw unauthenticated(`a forwarded identity (${asserted.user}) needs --auth kubernetes on this agent: only SubjectAccessReview can authorize it`);
  return { name: asserted.user, kind: "kubernetes", user: { username: asserted.user, groups: asserted.groups } };
}
