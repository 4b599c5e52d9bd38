// A decision the router made about a call before any handler ran (the pod's placement could not
// be read, the peer agent cannot be reached, a forwarded call's agent credential is invalid),
// delivered as the call's status by an interceptor: connect-node and the fast paths then write
// it in the caller's own protocol (gRPC trailers, gRPC-Web trailer frame, Connect JSON), and the
// call log records it like any other call.
import type { Interceptor } from "@connectrpc/connect";
import { nodeRequestKey, type NodeRequest } from "../request-state.js";

const verdicts = new WeakMap<NodeRequest, unknown>();

/** The call ends with this error once served (the request is answered here, not forwarded). */
export function setVerdict(req: NodeRequest, err: unknown): void {
  verdicts.set(req, err);
}

/** Throws the router's verdict for the call, if there is one (place it after auth: a caller learns it only once allowed). */
export function callVerdict(): Interceptor {
  return (next) => async (req) => {
    const nodeReq = req.contextValues.get(nodeRequestKey);
    if (nodeReq && verdicts.has(nodeReq)) throw verdicts.get(nodeReq);
    return next(req);
  };
}
