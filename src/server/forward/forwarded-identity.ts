// The identity assertion a forwarding agent adds for a caller it authenticated by a TLS client
// certificate (a certificate cannot travel: the TLS session ends at the forwarding agent), as the
// Kubernetes API server's front proxy asserts X-Remote-User / X-Remote-Group. The serving agent
// believes it only beside a verified agent credential (src/auth/forwarded-identity.ts).
//
// Wire form: one header each, every name percent-encoded (anything outside visible ASCII, and
// '%' and ','), groups joined by ','. A certificate subject may hold any Unicode and commas, and
// Node joins a repeated header with ", ": this form keeps every name exact, and a repeated
// header (its ", " has a space) is malformed rather than a different list.
import { unauthenticated } from "../../errors.js";

/** The asserted user (a certificate's CN). */
export const FORWARDED_USER = "podfiles-forwarded-user";
/** The asserted groups (a certificate's O values and system:authenticated), comma-separated. */
export const FORWARDED_GROUPS = "podfiles-forwarded-groups";

export interface ForwardedIdentity {
  user: string;
  groups: string[];
}

const encode = (name: string): string => {
  // in a /u pattern a surrogate pair is one code point: only an unpaired half matches
  if (/[\uD800-\uDFFF]/u.test(name)) throw unauthenticated("the caller's name holds an unpaired UTF-16 surrogate and cannot be forwarded to another agent");
  return name.replace(/[^\x21-\x24\x26-\x2b\x2d-\x7e]/gu, (c) => encodeURIComponent(c));
};

/** The headers for an identity (throws UNAUTHENTICATED for a name that cannot be written exactly). */
export function forwardedIdentityHeaders(id: ForwardedIdentity): Record<string, string> {
  if (id.user === "") throw unauthenticated("an empty user name cannot be forwarded to another agent");
  return { [FORWARDED_USER]: encode(id.user), ...(id.groups.length ? { [FORWARDED_GROUPS]: id.groups.map(encode).join(",") } : {}) };
}

const WIRE = /^[\x21-\x2b\x2d-\x7e]+$/;

function decode(value: string, what: string): string {
  if (!WIRE.test(value)) throw malformed(`${what} holds a character outside visible ASCII (or is empty)`);
  try {
    return decodeURIComponent(value);
  } catch {
    throw malformed(`${what} is not valid percent-encoding`);
  }
}

const malformed = (why: string) => unauthenticated(`malformed forwarded identity from the forwarding agent: ${why}`);

/**
 * The identity in a call's headers: undefined when it carries none (neither header); UNAUTHENTICATED
 * when they are malformed (groups without a user, an empty or repeated user header, an empty group).
 */
export function parseForwardedIdentity(get: (name: string) => string | null): ForwardedIdentity | undefined {
  const user = get(FORWARDED_USER);
  const groups = get(FORWARDED_GROUPS);
  if (user === null && groups === null) return undefined;
  if (user === null) throw malformed(`${FORWARDED_GROUPS} without ${FORWARDED_USER}`);
  return { user: decode(user, FORWARDED_USER), groups: groups === null ? [] : groups.split(",").map((g) => decode(g, `a group in ${FORWARDED_GROUPS}`)) };
}
