// The podfiles server: FileService + reflection + health on one port, for
// gRPC, gRPC-Web and Connect alike.
import type { AddressInfo } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { Health } from "../../gen/ts/third_party/health/v1/health_pb.js";
import { fileService } from "../handlers/file-service.js";
import { jsonLogger, type Logger } from "../log.js";
import type { Resolver } from "../resolve/resolver.js";
import { UploadSessions, type UploadSessionsOptions } from "../handlers/upload-sessions.js";
import { callFacts } from "./call-info.js";
import { loopbackOrigins, normalizeOrigin, withCors, type CorsOptions } from "./cors.js";
import { HealthState, registerHealth } from "./health.js";
import { callLog, errorStatus } from "./interceptors.js";
import { registerReflection } from "./reflection.js";
import { nodeRequestContext } from "./request-state.js";
import type { ResolvedLimits } from "./connection-limits.js";
import { createTransport, type Transport, type TransportOptions } from "./transport.js";
import { downloadFastPath, downloadFastPathProtocol } from "./fast-path/download.js";
import { uploadFastPath, uploadFastPathProtocol } from "./fast-path/upload.js";
import { kubeFinderApi, kubeFinderAuthorization, kubeFinderTarget } from "./kube-finder-api.js";
import { staticPage } from "./static-page.js";
import { callVerdict } from "./forward/call-verdict.js";
import { forwardRoute, type ForwardedOptions, type ForwardOptions, type ServeHere } from "./forward/forward-route.js";
import type { NodeResponse } from "./forward/forward-call.js";
import { copyPeers } from "./forward/copy-peers.js";

export interface ServerOptions extends TransportOptions {
  resolver: Resolver;
  logger?: Logger;
  /** Largest message accepted or sent (default 16 MiB; chunks are at most 4 MiB). */
  maxMessageBytes?: number;
  /** Download chunk size when the request names none (default 1 MiB). */
  defaultChunkSize?: number;
  uploads?: UploadSessionsOptions;
  /**
   * Serve Download (binary gRPC, gRPC-Web, Connect) and gRPC Upload through src/server/fast-path
   * (default true; false = connect-node alone, for comparison and the equality tests).
   */
  fastPaths?: boolean;
  /** Interceptors that run before the handlers, after logging (auth goes here). */
  interceptors?: Interceptor[];
  /** Extra services (e.g. AuthService) registered on the same router. */
  registerExtra?: (router: ConnectRouter) => void;
  /** Services registerExtra adds, so that reflection lists them too. */
  extraServices?: DescService[];
  /** Browser origins: the server's own (publicOrigins) and others allowed (src/server/cors.ts); preflight is answered before Connect. */
  cors?: CorsOptions;
  /**
   * Agents forwarding to each other (src/server/forward): a FileService call for a pod on another
   * node is forwarded whole to the agent there. Absent: every call is served here.
   */
  forward?: ForwardOptions;
  /** How a call another agent forwarded is checked (its agent credential). */
  forwarded?: ForwardedOptions;
}

export interface RunningServer {
  port: number;
  host: string;
  /** Base URL for Connect clients, e.g. http://127.0.0.1:8080 (https with TLS) */
  url: string;
  /** With TLS and allowCleartext: the same port's cleartext URL. */
  cleartextUrl?: string;
  /** Connection caps and deadlines in force. */
  limits: ResolvedLimits;
  close(): Promise<void>;
}

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;

export function createServer(options: ServerOptions) {
  const logger = options.logger ?? jsonLogger();
  const uploads = new UploadSessions(options.uploads);
  const health = new HealthState([FileService.typeName]);
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;

  // a Copy whose destination runs on another node writes to the agent there (when agents forward to each other)
  const peers = options.forward ? copyPeers(options.forward) : undefined;
  const files = fileService({
    resolver: options.resolver,
    uploads,
    call: callFacts,
    defaultChunkSize: options.defaultChunkSize ?? 1024 * 1024,
    maxChunkSize: MAX_CHUNK_BYTES,
    ...(peers ? { copyPeers: peers } : {}),
  });
  // the router's verdict on a call (forwarding) comes after auth: what a pod lookup found out (NOT_FOUND, its node)
  // reaches only a caller allowed on that pod, as on the local path (measured: before auth it told anyone)
  const interceptors = [callLog(logger), errorStatus(), ...(options.interceptors ?? []), callVerdict()];
  const routes = (router: ConnectRouter) => {
    router.service(FileService, files);
    options.registerExtra?.(router);
    registerHealth(router, health);
    registerReflection(router, [FileService, ...(options.extraServices ?? []), Health]);
  };

  const handler = connectNodeAdapter({
    routes,
    // File data is mostly incompressible: gzip only when a client asks and we allow it (measured ~20 MiB/s with gzip on).
    acceptCompression: [],
    readMaxBytes: maxBytes,
    writeMaxBytes: maxBytes,
    contextValues: nodeRequestContext,
    interceptors,
  });
  // Download's and Upload's data messages skip connect-node's copies and per-frame steps (same handlers and interceptors).
  const fast = { interceptors, contextValues: nodeRequestContext, readMaxBytes: maxBytes };
  const download = downloadFastPath({ impl: files.download, ...fast });
  const upload = uploadFastPath({ impl: files.upload, ...fast });
  // the file browser page at / and kube-finder's REST API (/apis/v1/…): plain HTTP beside the RPCs
  const kubeFinder = kubeFinderApi({ routes, interceptors, contextValues: nodeRequestContext, readMaxBytes: maxBytes });
  const web = [staticPage(), kubeFinder];
  const forward =
    options.forward || options.forwarded
      ? forwardRoute({ forward: options.forward, forwarded: options.forwarded, maxMessageBytes: maxBytes, logger })
      : undefined;
  const route: typeof handler = (req, res) => {
    // kube-finder's files URL names its pod: one on another node is forwarded whole to that node's agent
    const restTarget = forward ? kubeFinderTarget(req.url) : undefined;
    if (restTarget) return forward!.rest(req, res as NodeResponse, restTarget, kubeFinderAuthorization(req), (q, r) => void kubeFinder(q, r));
    if (web.some((serve) => serve(req, res))) return;
    // before the fast paths: a call for a pod on another node is forwarded as it arrived
    if (forward?.(req, res as NodeResponse, serveHere as ServeHere)) return;
    serveHere(req, res);
  };
  const serveHere: typeof handler = (req, res) => {
    if (options.fastPaths !== false) {
      const down = downloadFastPathProtocol(req);
      if (down) return void download(req, res, down);
      const up = uploadFastPathProtocol(req);
      if (up) return void upload(req, res, up);
    }
    // connect-node writes a response message and, when the stream's buffer is full, waits for
    // "drain" or "error"; a client that goes away then (socket destroyed, h2 stream reset) gives
    // neither, so the handler stays suspended at its yield for good, with what it holds: a
    // recursive ListFiles kept its tree walk's directory fds (cancel-matrix.spec: 2 to 4 fds left
    // in 6 of 8 runs once the walk outran the client; 0 of 5 runs with this). A "drain" on close lets that write finish; the
    // next write fails on the closed stream and the handler is told, so its finally blocks run.
    res.once("close", () => {
      if (!res.writableFinished) res.emit("drain");
    });
    return handler(req, res);
  };
  // Same-origin means these (set once listening: the port is known then), unless cors.publicOrigins says otherwise.
  let ownOrigins: readonly string[] = [];
  const transport: Transport = createTransport(
    withCors(route, options.cors, () => ownOrigins),
    { ...options, logger },
  );

  return {
    health,
    uploads,
    listen(port: number, host = "127.0.0.1"): Promise<RunningServer> {
      return new Promise((resolve, reject) => {
        transport.server.once("error", reject);
        transport.server.listen(port, host, () => {
          const address = transport.server.address() as AddressInfo;
          const scheme = options.tls ? "https" : "http";
          const urlHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
          const wildcard = address.address === "0.0.0.0" || address.address === "::";
          // a port serving TLS and cleartext is reached as either origin
          const schemes: ("http" | "https")[] = options.tls?.allowCleartext ? ["https", "http"] : [scheme];
          ownOrigins = schemes.flatMap((sc) => [
            ...loopbackOrigins(sc, address.port),
            ...(wildcard ? [] : [normalizeOrigin(`${sc}://${urlHost}:${address.port}`)!]),
          ]);
          resolve({
            port: address.port,
            host: address.address,
            url: `${scheme}://${urlHost}:${address.port}`,
            ...(options.tls?.allowCleartext ? { cleartextUrl: `http://${urlHost}:${address.port}` } : {}),
            limits: transport.limits,
            close: async () => {
              health.setNotServing();
              await uploads.close();
              forward?.close();
              peers?.close();
              await transport.close();
              await options.resolver.close();
            },
          });
        });
      });
    },
  };
}
