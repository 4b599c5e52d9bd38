// A STAND-IN for an API server without WebSocket port-forward (Kubernetes before 1.31 with its
// default feature gates, or a proxy in front of the API server that passes no WebSockets): a TLS
// proxy on loopback in front of the REAL API server of the e2e cluster that answers every WebSocket
// upgrade 400 with a Status, and passes everything else through — plain requests and SPDY upgrades
// (the upgraded connection is piped both ways). It counts what it refused and what it passed, so a
// test can tell which protocol the client spoke. The client's credentials pass through untouched.
import * as https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { TestCa } from "../../support/test-ca.js";

export interface NoWebSocketProxy {
  /** https://127.0.0.1:port */
  url: string;
  /** the proxy's CA certificate (PEM), for the kubeconfig's certificate-authority-data */
  caPem: string;
  /** WebSocket upgrades answered 400 */
  webSocketRefused: number;
  /** SPDY upgrades passed to the API server and switched */
  spdyUpgrades: number;
  close(): Promise<void>;
}

export async function startNoWebSocketProxy(apiServer: URL, apiServerCa: string | Buffer | undefined): Promise<NoWebSocketProxy> {
  const ca = new TestCa("no-websocket-proxy");
  const serving = ca.serving();
  const sockets = new Set<Socket>();
  const upstream = (req: { url?: string; method?: string; headers: Record<string, string | string[] | undefined> }) => {
    const headers = { ...req.headers };
    delete headers.host;
    return https.request({ host: apiServer.hostname, port: apiServer.port || 443, path: req.url, method: req.method, headers, ca: apiServerCa, agent: false });
  };
  const state = {
    webSocketRefused: 0,
    spdyUpgrades: 0,
  };
  const server = https.createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    const up = upstream(req);
    up.on("response", (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on("error", (err) => {
      res.writeHead(502);
      res.end(err.message);
    });
    req.pipe(up);
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("upgrade", (req, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    if (String(req.headers.upgrade).toLowerCase() === "websocket") {
      state.webSocketRefused++;
      const body = JSON.stringify({
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        message: "WebSocket port-forward is not offered here (stand-in)",
        code: 400,
      });
      socket.end(
        `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    const up = upstream(req);
    up.on("upgrade", (r, upSocket: Socket, upHead: Buffer) => {
      state.spdyUpgrades++;
      sockets.add(upSocket);
      const lines = [`HTTP/1.1 101 ${r.statusMessage ?? "Switching Protocols"}`];
      for (let i = 0; i < r.rawHeaders.length; i += 2) lines.push(`${r.rawHeaders[i]}: ${r.rawHeaders[i + 1]}`);
      socket.write(`${lines.join("\r\n")}\r\n\r\n`);
      if (upHead.length) socket.write(upHead);
      if (head.length) upSocket.write(head);
      socket.pipe(upSocket).pipe(socket);
      const end = () => {
        socket.destroy();
        upSocket.destroy();
      };
      socket.on("error", end).on("close", end);
      upSocket.on("error", end).on("close", end);
    });
    up.on("response", (r) => {
      const lines = [`HTTP/1.1 ${r.statusCode} ${r.statusMessage ?? ""}`];
      for (let i = 0; i < r.rawHeaders.length; i += 2)
        if (!/^(transfer-encoding|connection|content-length)$/i.test(r.rawHeaders[i]!)) lines.push(`${r.rawHeaders[i]}: ${r.rawHeaders[i + 1]}`);
      const body: Buffer[] = [];
      r.on("data", (d: Buffer) => body.push(d));
      r.on("end", () => {
        const b = Buffer.concat(body);
        socket.end(`${lines.join("\r\n")}\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n${b.toString("latin1")}`, "latin1");
      });
    });
    up.on("error", () => socket.destroy());
    up.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    caPem: ca.cert,
    get webSocketRefused() {
      return state.webSocketRefused;
    },
    get spdyUpgrades() {
      return state.spdyUpgrades;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
        ca.close();
      }),
  };
}
