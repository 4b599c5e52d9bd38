// The forward route's authenticateCaller (src/server/forward/forward-route.ts): the forwarding
// agent authenticates the caller as the auth interceptor would, before any pod lookup, and learns
// what the serving agent must be told. A bearer token travels as it is (reviewed again where the
// call is served); a TLS client certificate cannot travel (TLS ends at this agent), so its user
// and groups are asserted instead (src/auth/asserted-identity.ts says when they are believed).
import type { HandlerContext } from "@connectrpc/connect";
import { forwardedIdentityHeaders, type ForwardedIdentity } from "../server/forward/forwarded-identity.js";
import type { PeerCertificate } from "../server/request-state.js";
import { identityOf } from "./identity.js";
import { authenticate, type Authenticators } from "./interceptor.js";

/** Authenticates as the interceptor does (throws UNAUTHENTICATED); resolves to the identity to assert for a certificate caller, else undefined. */
export function callerToForward(
  a: Authenticators,
): (authorization: string | null, certificate: PeerCertificate | undefined) => Promise<ForwardedIdentity | undefined> {
  return async (authorization, certificate) => {
    const id = await authenticate(authorization, a, certificate);
    if (authorization || id.kind !== "kubernetes" || !id.user) return undefined;
    return { user: id.user.username, groups: id.user.groups };
  };
}

/**
 * The forward option callerCredentials: a call served here that writes to another agent for its
 * caller (Copy) and came without an Authorization header carries the identity the interceptor
 * established (a certificate user, or one another agent asserted) as an assertion, which the
 * other agent believes only beside this agent's credential. Nothing for anyone else.
 */
export function callerCredentials(ctx: HandlerContext): Record<string, string> {
  const id = identityOf(ctx);
  if (id.kind !== "kubernetes" || !id.user) return {};
  return forwardedIdentityHeaders({ user: id.user.username, groups: id.user.groups });
}
