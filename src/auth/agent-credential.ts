// Agent-to-agent authentication for forwarded calls. The forwarding agent sends its own
// ServiceAccount token (the kubelet-mounted, rotating file) in podfiles-agent-authorization; the
// serving agent TokenReviews it (cached like every token) and accepts only its own
// ServiceAccount, system:serviceaccount:<namespace>:<name>: the DaemonSet's pods share it.
import { readFileSync, statSync } from "node:fs";
import { unauthenticated } from "../errors.js";
import type { KubeAuth } from "./kubernetes.js";

export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The token file, re-read when it changes (the kubelet swaps it in well before it expires). */
export class ServiceAccountToken {
  private token?: string;
  private mtimeMs = -1;
  private checkedAt = -Infinity;

  constructor(readonly file = `${SERVICE_ACCOUNT_DIR}/token`) {}

  /** The token, or undefined when the file cannot be read; a stat at most once a second. */
  read(): string | undefined {
    const now = performance.now();
    if (now - this.checkedAt < 1000) return this.token;
    this.checkedAt = now;
    try {
      const st = statSync(this.file);
      if (st.mtimeMs !== this.mtimeMs || this.token === undefined) {
        this.token = readFileSync(this.file, "utf8").trim() || undefined;
        this.mtimeMs = st.mtimeMs;
      }
    } catch {
      this.token = undefined;
    }
    return this.token;
  }

  /** `Bearer <token>` for the header, or undefined. */
  header(): string | undefined {
    const t = this.read();
    return t ? `Bearer ${t}` : undefined;
  }
}

/** The ServiceAccount a Kubernetes token names in its claims (`sub`), read without verifying (it is our own file). */
export function serviceAccountOf(token: string): { namespace: string; name: string } | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { sub?: string };
    const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(payload.sub ?? "");
    return m ? { namespace: m[1]!, name: m[2]! } : undefined;
  } catch {
    return undefined;
  }
}

/** Checks a forwarded call's agent credential: a token the API server says belongs to `username`. */
export function agentCredentialCheck(kube: KubeAuth, username: string): (credential: string | null) => Promise<void> {
  const refuse = (why: string) => unauthenticated(`forwarded call without a valid agent credential (${why})`);
  return async (credential) => {
    const m = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(credential ?? "");
    if (!m) throw refuse(credential ? "malformed podfiles-agent-authorization" : "no podfiles-agent-authorization header");
    let name: string;
    try {
      name = (await kube.authenticate(m[1]!)).name;
    } catch (err) {
      throw refuse((err as Error).message);
    }
    if (name !== username) throw refuse(`${name} is not the agents' ServiceAccount ${username}`);
  };
}
