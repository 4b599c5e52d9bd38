// The auth interceptor: in front of every RPC of every protocol (gRPC,
// gRPC-Web, Connect), it authenticates the caller, checks the permission the
// method needs (src/auth/rules.ts) for the pod the request names, and writes
// the audit log. Open without credentials: health, reflection and
// AuthService/IssueToken. Everything else needs an identity; a method without
// a rule is refused.
import type { Interceptor, StreamRequest, UnaryRequest } from "@connectrpc/connect";
import { formatName } from "../resolve/resolver.js";
import { callInfoKey, readAccessKey } from "../server/call-info.js";
import { forwardedByVerifiedAgent, peerCertificateOf, peerOf, type PeerCertificate } from "../server/request-state.js";
import { assertedIdentity } from "./asserted-identity.js";
import type { AuditLog } from "./audit.js";
import { certificateIdentity } from "./client-cert.js";
import { identityKey, type Identity } from "./identity.js";
import { readAccess } from "./read-access.js";
import type { JwtAuthority } from "./jwt.js";
import type { KubeAuth } from "./kubernetes.js";
import { AUTHENTICATED_ONLY, OPEN_METHODS, OPEN_SERVICES, methodKey, type Check, type Rule } from "./rules.js";
import { permissionDenied, unauthenticated } from "../errors.js";
import { API_GROUP, RESOURCE, scopeAllows } from "./scope.js";

export interface Authenticators {
  jwt?: JwtAuthority;
  kubernetes?: KubeAuth;
  /**
   * Kubernetes identities from TLS client certificates the transport verified against the client
   * CA (needs `kubernetes`: only SubjectAccessReview can authorize them). A bearer token, when
   * sent, wins over the certificate.
   */
  clientCertificates?: boolean;
}

/** The identity behind an Authorization header or, without one, a verified client certificate; or UNAUTHENTICATED. */
export async function authenticate(authorization: string | null, a: Authenticators, cert?: PeerCertificate): Promise<Identity> {
  const certs = a.clientCertificates === true && a.kubernetes !== undefined;
  if (!authorization && certs && cert) return certificateIdentity(cert);
  if (!authorization) {
    throw unauthenticated(`no credentials: send Authorization: Bearer <token>${certs ? " or a TLS client certificate signed by the cluster's client CA" : ""}`);
  }
  const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(authorization);
  if (!m) throw unauthenticated("malformed Authorization header: expected Bearer <token>");
  const token = m[1];
  if (a.jwt && (!a.kubernetes || a.jwt.claims(token))) return a.jwt.verify(token);
  if (a.kubernetes) return a.kubernetes.authenticate(token);
  throw unauthenticated("no authenticator configured");
}

/** PERMISSION_DENIED unless the identity has one of the check's verbs on the pod. */
export async function authorize(id: Identity, check: Check, a: Authenticators): Promise<void> {
  const { namespace, pod } = check.target;
  let reason: string | undefined;
  for (const verb of check.verbs) {
    if (id.kind === "jwt" && id.scope) {
      if (scopeAllows(id.scope, verb, namespace, pod)) return;
      reason = "not in the token's scope";
    } else if (id.kind === "kubernetes" && id.user && a.kubernetes) {
      const r = await a.kubernetes.allowed(id.user, verb, namespace, pod);
      if (r.allowed) return;
      reason = r.reason || reason;
    }
  }
  throw permissionDenied(
    `${id.name} cannot ${check.verbs.join(" or ")} resource "${RESOURCE}" in API group "${API_GROUP}" for pod "${pod}" in the namespace "${namespace}" (path ${check.path})${reason ? `: ${reason}` : ""}`,
  );
}

export interface AuthInterceptorOptions extends Authenticators {
  rules: Record<string, Rule>;
  audit: AuditLog;
}

export function authInterceptor(o: AuthInterceptorOptions): Interceptor {
  const open = new Set(OPEN_METHODS);
  const authOnly = new Set(AUTHENTICATED_ONLY);
  const openServices = new Set(OPEN_SERVICES);
  return (next) => async (req) => {
    const method = methodKey(req.service.typeName, req.method.name);
    if (openServices.has(req.service.typeName) || open.has(method)) return next(req);

    const peer = peerOf(req.contextValues);
    const forwardedBy = forwardedByVerifiedAgent(req.contextValues);
    const record = { who: "unauthenticated", peer, method, ...(forwardedBy !== undefined ? { forwardedBy } : {}) } as Parameters<AuditLog>[0];
    let checks: Check[] = [];
    let request: UnaryRequest | StreamRequest = req;
    let rule: Rule | undefined;
    try {
      const authorization = req.header.get("authorization");
      // a bearer token wins over an assertion, as over a certificate
      const asserted = authorization ? undefined : assertedIdentity((name) => req.header.get(name), forwardedBy, o);
      const identity = asserted ?? (await authenticate(authorization, o, peerCertificateOf(req.contextValues)));
      req.contextValues.set(identityKey, identity);
      req.contextValues.set(readAccessKey, readAccess(identity, o.kubernetes));
      const info = req.contextValues.get(callInfoKey);
      if (info) Object.assign(info, { caller: identity.name, anonymous: identity.kind === "anonymous" });
      record.who = identity.name;
      record.kind = identity.kind;
      if (!authOnly.has(method)) {
        rule = o.rules[method];
        if (!rule) throw permissionDenied(`${identity.name} cannot call ${method}: no access rule for this method`);
        let message: unknown;
        if (req.stream) {
          // Client streams (Upload): the first message names the target.
          const it = req.message[Symbol.asyncIterator]();
          const first = await it.next();
          message = first.done ? undefined : first.value;
          request = { ...req, message: replay(first, it) };
        } else {
          message = req.message;
        }
        checks = rule.checks(message);
        describe(record, checks);
        for (const check of checks) await authorize(identity, check, o);
      }
    } catch (err) {
      o.audit(record, err);
      throw err;
    }
    if (!rule?.mutating) return next(request);

    const finish = (err?: unknown) => {
      const info = req.contextValues.get(callInfoKey);
      o.audit({ ...record, container: info?.container ?? record.container, path: info?.path ?? record.path, bytes: info?.bytes }, err);
    };
    try {
      const res = await next(request);
      if (!res.stream) {
        finish();
        return res;
      }
      return { ...res, message: observe(res.message, finish) };
    } catch (err) {
      finish(err);
      throw err;
    }
  };
}

function describe(record: Parameters<AuditLog>[0], checks: Check[]): void {
  if (checks.length === 0) return;
  record.verbs = [...new Set(checks.flatMap((c) => c.verbs))];
  record.container = formatName(checks[0].target);
  record.path = checks[0].path;
  if (checks.length > 1) record.newPath = checks[1].path;
}

async function* replay<T>(first: IteratorResult<T>, rest: AsyncIterator<T>): AsyncGenerator<T> {
  try {
    if (first.done) return;
    yield first.value;
    for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
  } finally {
    await rest.return?.();
  }
}

async function* observe<T>(messages: AsyncIterable<T>, done: (err?: unknown) => void): AsyncGenerator<T> {
  try {
    yield* messages;
  } catch (err) {
    done(err);
    throw err;
  }
  done();
}
