// Kubernetes identities: TokenReview for authentication, SubjectAccessReview
// on containerfiles.podfiles.io for authorization. Both are cached briefly
// (seconds, bounded size) so a transfer of many chunks or a burst of calls
// does not hammer the API server. The ServiceAccount needs `create` on
// tokenreviews (authentication.k8s.io) and subjectaccessreviews (authorization.k8s.io).
import { createHash } from "node:crypto";
import type { Identity, KubeUser } from "./identity.js";
import { unauthenticated } from "../errors.js";
import { TtlCache } from "./ttl-cache.js";

export interface TokenReviewResult {
  authenticated: boolean;
  user?: KubeUser;
  audiences?: string[];
  error?: string;
}

export interface AccessAttributes {
  user: KubeUser;
  verb: string;
  namespace: string;
  /** The pod. */
  name: string;
}

export interface AccessResult {
  allowed: boolean;
  reason?: string;
}

/** The two API calls podfiles makes (an interface so tests can count them). */
export interface KubeReviews {
  tokenReview(token: string, audiences: string[]): Promise<TokenReviewResult>;
  subjectAccessReview(a: AccessAttributes): Promise<AccessResult>;
}

export interface KubeAuthOptions {
  reviews: KubeReviews;
  /** TokenReview audiences; the token must be valid for one of them. Empty: the API server's own. */
  audiences?: string[];
  /** How long TokenReview results are kept (default 10 s; 0 disables). */
  tokenCacheSeconds?: number;
  /** How many TokenReview results are kept (default 1000). */
  tokenCacheSize?: number;
  /** How long SubjectAccessReview decisions are kept (default 10 s; 0 disables). */
  authzCacheSeconds?: number;
  /** How many decisions are kept (default 10000). */
  authzCacheSize?: number;
}

export class KubeAuth {
  private readonly tokens: TtlCache<Identity | string>;
  private readonly decisions: TtlCache<AccessResult>;
  private readonly audiences: string[];

  constructor(private readonly o: KubeAuthOptions) {
    this.audiences = o.audiences ?? [];
    this.tokens = new TtlCache((o.tokenCacheSeconds ?? 10) * 1000, o.tokenCacheSize ?? 1000);
    this.decisions = new TtlCache((o.authzCacheSeconds ?? 10) * 1000, o.authzCacheSize ?? 10_000);
  }

  /** The identity of a bearer token, or UNAUTHENTICATED. */
  async authenticate(token: string): Promise<Identity> {
    // The token itself is never a cache key: only its SHA-256.
    const key = createHash("sha256").update(token).digest("base64");
    let hit = this.tokens.get(key);
    if (hit === undefined) {
      hit = await this.review(token);
      this.tokens.set(key, hit);
    }
    if (typeof hit === "string") throw unauthenticated(hit);
    return hit;
  }

  private async review(token: string): Promise<Identity | string> {
    const r = await this.o.reviews.tokenReview(token, this.audiences);
    if (!r.authenticated || !r.user) return `invalid token: the Kubernetes API server did not authenticate it${r.error ? ` (${r.error})` : ""}`;
    if (this.audiences.length && !(r.audiences ?? []).some((a) => this.audiences.includes(a))) {
      return `invalid token: not valid for the audience ${this.audiences.join(" or ")}`;
    }
    return { name: r.user.username, kind: "kubernetes", user: r.user };
  }

  async allowed(user: KubeUser, verb: string, namespace: string, pod: string): Promise<AccessResult> {
    const key = JSON.stringify([user.username, user.uid ?? "", [...user.groups].sort(), user.extra ?? {}, verb, namespace, pod]);
    const hit = this.decisions.get(key);
    if (hit) return hit;
    const r = await this.o.reviews.subjectAccessReview({ user, verb, namespace, name: pod });
    this.decisions.set(key, r);
    return r;
  }
}
