// The router's step for FileService calls when agents forward to each other. A call that carries
// the hop marker was forwarded by another agent: its agent credential is checked (when the
// server is told how), and it is served here whatever it names (never forwarded again, so no
// loop, whatever a caller writes in the marker). Any other call: the caller is authenticated
// first (an anonymous caller costs the API server no pod lookups), the first message is read for
// its target, and the call is served here when the pod runs on this node, or forwarded whole to
// the agent on the pod's node; a caller authenticated by its TLS client certificate is forwarded
// with an identity assertion (forwarded-identity.ts) that the serving agent believes only beside
// this agent's verified credential.
import type { HandlerContext } from "@connectrpc/connect";
import type { Logger } from "../../log.js";
import { containerName, type ContainerName } from "../../resolve/resolver.js";
import { requestPeerCertificate, trustForwardedBy, trustForwardedFor, type PeerCertificate } from "../request-state.js";
import { fileServiceMethod, readCallTarget, type NodeRequest } from "./call-target.js";
import { setVerdict } from "./call-verdict.js";
import {
  FORWARDED_BY,
  FORWARDED_FOR,
  AGENT_AUTHORIZATION,
  PeerSessions,
  forwardCall,
  type ForwardCallOptions,
  type NodeResponse,
  type Peer,
} from "./forward-call.js";
import { forwardedIdentityHeaders, type ForwardedIdentity } from "./forwarded-identity.js";

export interface ForwardOptions extends Omit<ForwardCallOptions, "self"> {
  /** This agent's node (the hop marker's value). */
  self: string;
  /**
   * The agent that serves the container: undefined when it is this one. Throws a FileServiceError
   * (pod NOT_FOUND, "no ready podfiles agent on node X" FAILED_PRECONDITION, API UNAVAILABLE).
   */
  locate(name: ContainerName): Promise<Peer | undefined>;
  /**
   * Authenticates the caller before anything is looked up (throws UNAUTHENTICATED): its
   * Authorization header or, without one, its connection's TLS client certificate. Resolves to the
   * identity the peer must be told (a certificate's user and groups: the certificate itself cannot
   * travel), or nothing when the caller's credentials travel as they are. Absent without auth.
   */
  authenticateCaller?: (authorization: string | null, certificate: PeerCertificate | undefined) => Promise<ForwardedIdentity | undefined>;
  /**
   * For a call served here that calls another agent on its caller's behalf (Copy to a destination on
   * another node) and came without an Authorization header: the headers that carry the caller the
   * auth interceptor identified (a certificate user's identity assertion). Absent: nothing is added.
   */
  callerCredentials?: (ctx: HandlerContext) => Record<string, string>;
}

export interface ForwardedOptions {
  /**
   * Checks the agent credential of a call another agent forwarded (throws UNAUTHENTICATED);
   * without it (no Kubernetes auth) the forwarded-for address is not trusted.
   */
  verifyAgent?: (credential: string | null) => Promise<void>;
}

export type ServeHere = (req: NodeRequest, res: NodeResponse) => void;

const header = (req: NodeRequest, name: string): string | null => {
  const v = req.headers[name];
  return typeof v === "string" ? v : Array.isArray(v) ? v.join(",") : null;
};

export interface ForwardRoute {
  /** Takes the call when it is a FileService call (returns true); serveHere answers it locally. */
  (req: NodeRequest, res: NodeResponse, serveHere: ServeHere): boolean;
  /**
   * A REST request for one container (kube-finder's files URL: `target`, its caller's token in
   * `authorization`): forwarded whole to the agent of the pod's node, which serves it with its own
   * REST front end (the same auth there, as for a forwarded RPC); or served here (serveHere), with
   * the router's verdict for its calls when the pod could not be placed or its agent reached.
   */
  rest(req: NodeRequest, res: NodeResponse, target: ContainerName, authorization: string | null, serveHere: ServeHere): void;
  close(): void;
}

export function forwardRoute(o: { forward?: ForwardOptions; forwarded?: ForwardedOptions; maxMessageBytes: number; logger: Logger }): ForwardRoute {
  const sessions = new PeerSessions(o.forward ?? { self: "" });
  const route = (req: NodeRequest, res: NodeResponse, serveHere: ServeHere): boolean => {
    const method = fileServiceMethod(req);
    if (!method) return false;
    const hop = req.headers[FORWARDED_BY] !== undefined;
    if (!hop && !o.forward) return false;
    const startedAt = performance.now();
    void (hop ? acceptForwarded(req) : decide(req, res, startedAt, method.name)).then(
      (serve) => serve && serveHere(req, res),
      (err: unknown) => {
        o.logger.error({ msg: "forwarding failed", method: method.name, error: String(err) });
        res.destroy();
      },
    );
    return true;
  };

  const rest = (req: NodeRequest, res: NodeResponse, target: ContainerName, authorization: string | null, serveHere: ServeHere): void => {
    const hop = req.headers[FORWARDED_BY] !== undefined;
    if (!hop && !o.forward) return serveHere(req, res);
    const startedAt = performance.now();
    void (hop ? acceptForwarded(req) : decideRest(req, res, target, authorization, startedAt)).then(
      (serve) => serve && serveHere(req, res),
      (err: unknown) => {
        o.logger.error({ msg: "forwarding failed", method: "kube-finder", error: String(err) });
        res.destroy();
      },
    );
  };

  /** As decide(), with the target from the URL (nothing of the body is read). */
  async function decideRest(req: NodeRequest, res: NodeResponse, target: ContainerName, authorization: string | null, startedAt: number): Promise<boolean> {
    const f = o.forward!;
    let asserted: ForwardedIdentity | undefined;
    if (f.authenticateCaller) {
      try {
        asserted = await f.authenticateCaller(authorization, requestPeerCertificate(req));
      } catch {
        return true; // the REST front end's first call answers it (and writes the audit line)
      }
    }
    // a certificate caller's identity would have to reach the peer's in-process calls: not built, so served here (UNAVAILABLE as before)
    if (asserted) return true;
    return forwardTo(req, res, target, startedAt, "kube-finder", () => undefined);
  }

  /** Locates the pod and forwards the call; true: serve here (with the verdict when there is one). */
  async function forwardTo(
    req: NodeRequest,
    res: NodeResponse,
    target: ContainerName,
    startedAt: number,
    method: string,
    assertion: () => Record<string, string> | undefined,
  ): Promise<boolean> {
    const f = o.forward!;
    let peer: Peer | undefined;
    try {
      peer = await f.locate(target);
    } catch (err) {
      setVerdict(req, err);
      return true;
    }
    if (!peer) return true;
    let identity: Record<string, string> | undefined;
    try {
      identity = assertion();
    } catch (err) {
      setVerdict(req, err);
      return true;
    }
    try {
      await forwardCall(req, res, peer, sessions, { ...f, identity }, startedAt);
    } catch (err) {
      // the peer could not be reached: nothing of the body was sent, so the status is answered here
      setVerdict(req, err);
      return true;
    }
    o.logger.info({ msg: "forwarded", method, node: peer.node, peer: peer.address, ms: Math.round(performance.now() - startedAt) });
    return false;
  }

  /** A forwarded call: served here; its caller address is trusted once the agent credential is. */
  async function acceptForwarded(req: NodeRequest): Promise<boolean> {
    const verify = o.forwarded?.verifyAgent;
    if (!verify) return true;
    try {
      await verify(header(req, AGENT_AUTHORIZATION));
      trustForwardedBy(req, header(req, FORWARDED_BY) ?? "");
      const forwardedFor = header(req, FORWARDED_FOR);
      if (forwardedFor) trustForwardedFor(req, forwardedFor);
    } catch (err) {
      setVerdict(req, err);
    }
    return true;
  }

  /** true: serve here (possibly with a verdict); false: forwarded (or the caller is gone). */
  async function decide(req: NodeRequest, res: NodeResponse, startedAt: number, method: string): Promise<boolean> {
    const f = o.forward!;
    let asserted: ForwardedIdentity | undefined;
    if (f.authenticateCaller) {
      try {
        asserted = await f.authenticateCaller(header(req, "authorization"), requestPeerCertificate(req));
      } catch {
        return true; // the auth interceptor answers it (and writes the audit line)
      }
    }
    const target = await readCallTarget(req, o.maxMessageBytes);
    if (target.kind === "gone") {
      res.destroy();
      return false;
    }
    if (target.kind === "unknown") return true;
    let name: ContainerName;
    try {
      name = containerName(target.container);
    } catch (err) {
      setVerdict(req, err);
      return true;
    }
    return forwardTo(req, res, name, startedAt, method, () => (asserted ? forwardedIdentityHeaders(asserted) : undefined));
  }

  return Object.assign(route, { rest, close: () => sessions.close() });
}
