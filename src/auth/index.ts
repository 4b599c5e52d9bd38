// One entry point: an auth configuration → the interceptor and the
// AuthService registration to hand to createServer().
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { AuthService } from "../../gen/ts/podfiles/v1/auth_pb.js";
import { jsonLogger, type Logger } from "../log.js";
import { auditLog } from "./audit.js";
import { authService } from "./auth-service.js";
import { Backoff, type BackoffOptions } from "./backoff.js";
import type { Client } from "./clients.js";
import { callerToForward } from "./caller-to-forward.js";
import { authInterceptor } from "./interceptor.js";
import { JwtAuthority, type JwtOptions } from "./jwt.js";
import { KubeAuth, type KubeAuthOptions } from "./kubernetes.js";
import { defaultRules, type Rule } from "./rules.js";

export interface AuthConfig {
  /** Kubernetes bearer tokens (TokenReview) and RBAC (SubjectAccessReview). */
  kubernetes?: KubeAuthOptions & {
    /** Also Kubernetes users from TLS client certificates (CN, O) the server's transport verified against its client CA. */
    clientCertificates?: boolean;
  };
  /** podfiles JWTs; `clients` enables IssueToken. */
  jwt?: JwtOptions & { clients?: Map<string, Client> };
  backoff?: BackoffOptions;
  /** Audit log destination (default: JSON lines on stderr). */
  logger?: Logger;
  /** Rules for methods of other services (e.g. an agent's peer service), by "pkg.Service/Method". */
  extraRules?: Record<string, Rule>;
}

export interface Auth {
  interceptor: Interceptor;
  registerExtra(router: ConnectRouter): void;
  jwt?: JwtAuthority;
  kubernetes?: KubeAuth;
  /** For the forward route (server option forward.authenticateCaller): authenticates a caller as the interceptor does, and says what identity to assert for a certificate caller. */
  authenticateCaller: ReturnType<typeof callerToForward>;
  /** One line for the startup log, e.g. "kubernetes (TokenReview audiences podfiles) + jwt (key k2)". */
  summary: string;
}

export function createAuth(config: AuthConfig): Auth {
  if (!config.kubernetes && !config.jwt) throw new Error("auth: configure kubernetes tokens, podfiles JWTs, or both");
  const jwt = config.jwt ? new JwtAuthority(config.jwt) : undefined;
  const kubernetes = config.kubernetes ? new KubeAuth(config.kubernetes) : undefined;
  const audit = auditLog(config.logger ?? jsonLogger());
  const backoff = new Backoff(config.backoff);
  const clientCertificates = config.kubernetes?.clientCertificates === true;
  const interceptor = authInterceptor({ jwt, kubernetes, clientCertificates, audit, rules: { ...defaultRules, ...config.extraRules } });
  const parts = [
    ...(kubernetes
      ? [
          `kubernetes (TokenReview${config.kubernetes?.audiences?.length ? `, audiences ${config.kubernetes.audiences.join(",")}` : ""}${clientCertificates ? "; TLS client certificates (CN, O)" : ""}; SubjectAccessReview on containerfiles.podfiles.io)`,
        ]
      : []),
    ...(jwt ? [`jwt (signing key ${jwt.signingKeyId}, issuer ${jwt.issuer}, audience ${jwt.audience}, ${config.jwt?.clients?.size ?? 0} token clients)`] : []),
  ];
  return {
    interceptor,
    registerExtra: (router) => router.service(AuthService, authService({ jwt, clients: config.jwt?.clients, backoff, audit })),
    jwt,
    kubernetes,
    authenticateCaller: callerToForward({ jwt, kubernetes, clientCertificates }),
    summary: parts.join(" + "),
  };
}

export { identityKey, identityOf, type Identity } from "./identity.js";
