// Starts a real podfiles server on a random loopback port over a temporary
// root, for tests. Returns generated-client instances for every protocol.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { WideSessionManager, wideNodeOptions } from "../../src/client/wide-session-manager.js";
import { silentLogger, type Logger } from "../../src/log.js";
import { LocalResolver } from "../../src/resolve/local-resolver.js";
import { createServer, type ServerOptions, type RunningServer } from "../../src/server/server.js";
import type { UploadSessions } from "../../src/handlers/upload-sessions.js";

export interface TestServer extends RunningServer {
  /** The chunked-upload sessions (tests call sweep()). */
  uploads: UploadSessions;
  /** Host directory served as the container root (removed on close). */
  root: string;
  /** The container every request names. */
  container: { namespace: string; pod: string; container: string };
  clients: {
    grpc: Client<typeof FileService>;
    connectJson: Client<typeof FileService>;
    connectBinaryH1: Client<typeof FileService>;
    connectH2: Client<typeof FileService>;
    grpcWeb: Client<typeof FileService>;
  };
}

export interface TestServerOptions extends Partial<Omit<ServerOptions, "resolver">> {
  root?: string;
  /** The pod the server answers to (default local/local/local). */
  name?: { namespace: string; pod: string; container: string };
  logger?: Logger;
  clientInterceptors?: Interceptor[];
}

/** Client transports with large HTTP/2 windows, as the project's clients use. */
export function fileClients(baseUrl: string, interceptors: Interceptor[] = []) {
  const h2 = { httpVersion: "2" as const, nodeOptions: wideNodeOptions, sessionManager: new WideSessionManager(baseUrl) };
  const limits = { readMaxBytes: 16 * 1024 * 1024, writeMaxBytes: 16 * 1024 * 1024 };
  return {
    grpc: createClient(FileService, createGrpcTransport({ baseUrl, ...h2, ...limits, interceptors })),
    connectJson: createClient(FileService, createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: false, ...limits, interceptors })),
    connectBinaryH1: createClient(FileService, createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, ...limits, interceptors })),
    connectH2: createClient(FileService, createConnectTransport({ baseUrl, ...h2, useBinaryFormat: true, ...limits, interceptors })),
    grpcWeb: createClient(FileService, createGrpcWebTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: true, ...limits, interceptors })),
  };
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const ownRoot = !options.root;
  const root = options.root ?? mkdtempSync(join(tmpdir(), "podfiles-root-"));
  const resolver = new LocalResolver({ root, name: options.name });
  const server = createServer({ logger: silentLogger, ...options, resolver });
  const running = await server.listen(0, "127.0.0.1");
  return {
    ...running,
    uploads: server.uploads,
    root,
    container: options.name ?? { namespace: "local", pod: "local", container: "local" },
    clients: fileClients(running.url, options.clientInterceptors),
    close: async () => {
      await running.close();
      if (ownRoot) rmSync(root, { recursive: true, force: true });
    },
  };
}
