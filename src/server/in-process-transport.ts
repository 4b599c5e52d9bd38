// A Connect transport whose calls never leave the process: they go to the server's own router,
// through the same interceptors (call log, error statuses, auth and RBAC) and handlers as a call
// from the network, with the HTTP request's context values (peer address for the login back-off
// and the audit log). @connectrpc/connect's createRouterTransport does the same but drops context
// values. Used by the REST front ends (kube-finder-api.ts) so that they add no second
// implementation of auth or file access.
import { Code, ConnectError, createConnectRouter, type ConnectRouter, type ContextValues, type Interceptor, type Transport } from "@connectrpc/connect";
import { createAsyncIterable, type UniversalClientRequest, type UniversalClientResponse } from "@connectrpc/connect/protocol";
import { createTransport } from "@connectrpc/connect/protocol-connect";

export interface InProcessRouterOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  readMaxBytes: number;
}

/** Builds the router once; `transport(values)` is a per-request transport carrying that request's context values. */
export function inProcessRouter(o: InProcessRouterOptions): { transport(contextValues: ContextValues): Transport } {
  const router = createConnectRouter({
    interceptors: o.interceptors,
    connect: true,
    grpc: false,
    grpcWeb: false,
    readMaxBytes: o.readMaxBytes,
    writeMaxBytes: o.readMaxBytes,
    acceptCompression: [],
  });
  o.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  return {
    transport(contextValues) {
      const httpClient = async (req: UniversalClientRequest): Promise<UniversalClientResponse> => {
        const path = new URL(req.url).pathname;
        const handler = handlers.get(path);
        if (!handler) throw new ConnectError(`${path}: no such method`, Code.Unimplemented);
        const signal = req.signal ?? new AbortController().signal;
        const res = await handler({
          body: req.body ?? createAsyncIterable([]),
          httpVersion: "2.0",
          method: req.method,
          url: req.url,
          header: req.header,
          signal,
          contextValues,
        });
        return { body: res.body ?? createAsyncIterable([]), header: new Headers(res.header), status: res.status, trailer: new Headers(res.trailer) };
      };
      return createTransport({
        httpClient,
        baseUrl: "http://in-process",
        useBinaryFormat: true,
        interceptors: [],
        acceptCompression: [],
        sendCompression: null,
        compressMinBytes: Number.MAX_SAFE_INTEGER,
        readMaxBytes: o.readMaxBytes,
        writeMaxBytes: o.readMaxBytes,
      });
    },
  };
}
