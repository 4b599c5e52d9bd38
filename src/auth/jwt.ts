// podfiles JWTs: issued by AuthService.IssueToken, verified on every call.
// Claims: iss, aud, sub (the client name), iat, exp, jti, and `scopes`
// ({namespaces, pods, verbs}). The header names the key (kid); a token is only
// accepted with the algorithm of that key: `alg: none`, a switched algorithm,
// an unknown (rotated-out) kid, a wrong signature, a wrong issuer or audience
// and an expired token are all UNAUTHENTICATED.
import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import { checkKeys, type JwtKey } from "./keys.js";
import type { Identity } from "./identity.js";
import { unauthenticated } from "../errors.js";
import { parseScope, type Scope } from "./scope.js";

export interface JwtOptions {
  keys: JwtKey[];
  /** `iss` of issued tokens, and the only one accepted (default "podfiles"). */
  issuer?: string;
  /** `aud` of issued tokens, and the only one accepted (default "podfiles"). */
  audience?: string;
  /** Lifetime of issued tokens when the request names none (default 1800 s). */
  defaultTtlSeconds?: number;
  /** Longest lifetime a request may ask for (default 3600 s). */
  maxTtlSeconds?: number;
  /** Clock skew tolerated on exp/nbf/iat (default 30 s). */
  clockToleranceSeconds?: number;
}

export const DEFAULT_TOKEN_TTL_SECONDS = 30 * 60;

export class JwtAuthority {
  readonly issuer: string;
  readonly audience: string;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  private readonly keys: Map<string, JwtKey>;
  private readonly signer: JwtKey;
  private readonly tolerance: number;

  constructor(o: JwtOptions) {
    checkKeys(o.keys);
    this.keys = new Map(o.keys.map((k) => [k.kid, k]));
    this.signer = o.keys[0];
    this.issuer = o.issuer ?? "podfiles";
    this.audience = o.audience ?? "podfiles";
    this.defaultTtlSeconds = o.defaultTtlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
    this.maxTtlSeconds = o.maxTtlSeconds ?? Math.max(3600, this.defaultTtlSeconds);
    this.tolerance = o.clockToleranceSeconds ?? 30;
    if (this.defaultTtlSeconds <= 0 || this.maxTtlSeconds < this.defaultTtlSeconds) throw new Error("JWT lifetimes: need 0 < default TTL <= max TTL");
  }

  get signingKeyId(): string {
    return this.signer.kid;
  }

  issue(subject: string, scope: Scope, ttlSeconds: number): { token: string; expiresAt: Date } {
    const now = Math.floor(Date.now() / 1000);
    const token = jwt.sign({ scopes: scope }, this.signer.signKey!, {
      algorithm: this.signer.alg,
      keyid: this.signer.kid,
      issuer: this.issuer,
      audience: this.audience,
      subject,
      expiresIn: ttlSeconds,
      jwtid: randomUUID(),
    });
    return { token, expiresAt: new Date((now + ttlSeconds) * 1000) };
  }

  /** Whether the token says it is one of ours (unverified; used to route tokens). */
  claims(token: string): boolean {
    const d = jwt.decode(token, { complete: true });
    return !!d && typeof d.payload === "object" && d.payload.iss === this.issuer;
  }

  verify(token: string): Identity {
    const d = jwt.decode(token, { complete: true });
    if (!d || typeof d.payload !== "object") throw unauthenticated("malformed token: not a JWT");
    const { alg, kid } = d.header;
    if (!kid) throw unauthenticated("invalid token: no key id (kid) in the header");
    const key = this.keys.get(kid);
    if (!key) throw unauthenticated(`invalid token: unknown key id "${kid}" (not configured, or rotated out)`);
    if (alg !== key.alg) throw unauthenticated(`invalid token: algorithm "${alg}" is not the algorithm of key "${kid}" (${key.alg})`);
    let payload: jwt.JwtPayload;
    try {
      payload = jwt.verify(token, key.verifyKey, {
        algorithms: [key.alg],
        issuer: this.issuer,
        audience: this.audience,
        clockTolerance: this.tolerance,
        complete: false,
      }) as jwt.JwtPayload;
    } catch (err) {
      throw unauthenticated(`invalid token: ${(err as Error).message}`);
    }
    if (typeof payload.exp !== "number") throw unauthenticated("invalid token: no expiry (exp)");
    if (typeof payload.sub !== "string" || !payload.sub) throw unauthenticated("invalid token: no subject (sub)");
    let scope: Scope;
    try {
      scope = parseScope(payload.scopes, "token");
    } catch (err) {
      throw unauthenticated(`invalid token: ${(err as Error).message}`);
    }
    return { name: `jwt:${payload.sub}`, kind: "jwt", scope };
  }
}
