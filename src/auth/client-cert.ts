// Kubernetes identities from TLS client certificates, as the API server and the kubelet read
// them (k8s.io/apiserver pkg/authentication/request/x509): the user is the subject's CN, the
// groups are its O values. The handshake already verified the certificate against the client
// CA (src/server/transport.ts: chain, dates, and OpenSSL's ssl_client purpose, so a certificate
// whose extended key usage excludes clientAuth does not verify); this reads the verdict.
import type { PeerCertificate } from "../server/request-state.js";
import { unauthenticated } from "../errors.js";
import type { Identity } from "./identity.js";

/**
 * Every user the API server authenticates is also in this group (its authenticator chain adds
 * it: k8s.io/apiserver pkg/authentication/group AuthenticatedGroupAdder), so RBAC bindings to
 * system:authenticated apply to a certificate user here as they do for kubectl.
 */
export const AUTHENTICATED_GROUP = "system:authenticated";

/** The identity of a verified client certificate, or UNAUTHENTICATED saying what is wrong with it. */
export function certificateIdentity(cert: PeerCertificate): Identity {
  if (!cert.authorized) {
    throw unauthenticated(
      `TLS client certificate not accepted (${cert.authorizationError ?? "not verified"}): it must be valid now, allow client authentication, and be signed by the client CA this agent trusts (--client-ca-file)`,
    );
  }
  const cns = values(cert.subject["CN"]);
  if (cns.length !== 1 || cns[0] === "") {
    throw unauthenticated(
      cns.length > 1
        ? `TLS client certificate has ${cns.length} common names (CN): the user name must be one`
        : "TLS client certificate has no common name (CN): the CN is the Kubernetes user name",
    );
  }
  const groups = [...new Set([...values(cert.subject["O"]), AUTHENTICATED_GROUP])];
  return { name: cns[0], kind: "kubernetes", user: { username: cns[0], groups } };
}

function values(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}
