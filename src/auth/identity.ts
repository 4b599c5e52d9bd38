// Who is calling. The auth interceptor (src/auth/interceptor.ts) sets it;
// without auth (the loopback demo) every call is "anonymous".
import { createContextKey, type HandlerContext } from "@connectrpc/connect";
import type { Scope } from "./scope.js";

/** A Kubernetes user as TokenReview returns it (and SubjectAccessReview wants it). */
export interface KubeUser {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

export interface Identity {
  /** Stable name, e.g. "system:serviceaccount:ns:sa", "jwt:alice" or "anonymous". */
  name: string;
  kind?: "anonymous" | "kubernetes" | "jwt";
  /** Kubernetes identities: checked with SubjectAccessReview. */
  user?: KubeUser;
  /** podfiles JWT identities: checked against the token's scope. */
  scope?: Scope;
}

export const anonymous: Identity = { name: "anonymous", kind: "anonymous" };

export const identityKey = createContextKey<Identity>(anonymous, { description: "podfiles caller identity" });

export const identityOf = (ctx: HandlerContext): Identity => ctx.values.get(identityKey);
