// AuthService: IssueToken (HTTP Basic credentials of a configured client →
// podfiles JWT) and WhoAmI.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import { IssueTokenResponseSchema, ScopeSchema, WhoAmIResponseSchema, type AuthService, type IssueTokenRequest } from "../../gen/ts/podfiles/v1/auth_pb.js";
import { failedPrecondition, invalidArgument, permissionDenied, resourceExhausted, unauthenticated } from "../errors.js";
import type { AuditLog } from "./audit.js";
import type { Backoff } from "./backoff.js";
import type { Client } from "./clients.js";
import { identityOf } from "./identity.js";
import type { JwtAuthority } from "./jwt.js";
import { decoyHash, verifyPassword } from "./passwords.js";
import { peerOf } from "../server/request-state.js";
import { parseScope, scopeWithin, type Scope } from "./scope.js";

export interface AuthServiceDeps {
  jwt?: JwtAuthority;
  clients?: Map<string, Client>;
  backoff: Backoff;
  audit: AuditLog;
}

const METHOD = "podfiles.v1.AuthService/IssueToken";

/** "Basic base64(name:password)" → [name, password]. */
export function parseBasic(header: string | null): [string, string] {
  if (!header) throw unauthenticated("IssueToken needs HTTP Basic credentials: Authorization: Basic base64(client:password)");
  const m = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!m) throw unauthenticated("malformed Authorization header: expected Basic base64(client:password)");
  const text = Buffer.from(m[1], "base64").toString("utf8");
  const colon = text.indexOf(":");
  if (colon <= 0) throw unauthenticated("malformed Basic credentials: expected client:password");
  return [text.slice(0, colon), text.slice(colon + 1)];
}

export function authService(d: AuthServiceDeps): Partial<ServiceImpl<typeof AuthService>> {
  const decoy = decoyHash();
  return {
    async issueToken(req: IssueTokenRequest, ctx: HandlerContext) {
      const peer = peerOf(ctx.values);
      const record = { who: "unauthenticated", peer, method: METHOD };
      try {
        if (!d.jwt) throw failedPrecondition("this server does not issue tokens (start it with --auth jwt and --jwt-key)");
        if (!d.clients || d.clients.size === 0) throw failedPrecondition("this server has no token clients (--auth-clients <file>)");
        const [name, password] = parseBasic(ctx.requestHeader.get("authorization"));
        record.who = `jwt:${name}`;
        const keys = [`client:${name}`, ...(peer ? [`addr:${peer}`] : [])];
        const wait = Math.max(...keys.map((k) => d.backoff.wait(k)));
        if (wait > 0) {
          throw resourceExhausted(`too many failed logins for client "${name}" or from ${peer || "this address"}: retry in ${Math.ceil(wait / 1000)} s`);
        }
        const client = d.clients.get(name);
        const ok = await verifyPassword(password, client?.passwordHash ?? decoy);
        if (!ok || !client) {
          for (const k of keys) d.backoff.fail(k);
          throw unauthenticated("invalid client credentials");
        }
        d.backoff.succeed(`client:${name}`);

        let scope: Scope = client.scope;
        if (req.scope) {
          try {
            scope = parseScope({ namespaces: req.scope.namespaces, pods: req.scope.pods, verbs: req.scope.verbs }, "requested scope");
          } catch (err) {
            throw invalidArgument((err as Error).message);
          }
          if (!scopeWithin(scope, client.scope)) throw permissionDenied(`client "${name}" may not get a token beyond its own scope`);
        }
        const max = Math.min(d.jwt.maxTtlSeconds, client.maxTtlSeconds ?? Infinity);
        const ttl = Math.min(req.ttlSeconds || d.jwt.defaultTtlSeconds, max);
        const { token, expiresAt } = d.jwt.issue(name, scope, ttl);
        d.audit(record);
        return create(IssueTokenResponseSchema, {
          token,
          tokenType: "Bearer",
          expireTime: timestampFromDate(expiresAt),
          scope: create(ScopeSchema, scope),
        });
      } catch (err) {
        d.audit(record, err);
        throw err;
      }
    },

    async whoAmI(_req, ctx) {
      const id = identityOf(ctx);
      return create(WhoAmIResponseSchema, {
        name: id.name,
        kind: id.kind ?? "anonymous",
        groups: id.user?.groups ?? [],
        scope: id.scope ? create(ScopeSchema, id.scope) : undefined,
      });
    },
  };
}
