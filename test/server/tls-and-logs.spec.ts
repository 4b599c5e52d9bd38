// TLS with ALPN on the same port (h2 for gRPC, http/1.1 for Connect), and
// the structured call log: one line per call with method, container, path, bytes, status.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import type { Logger } from "../../src/log.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { downloadAll } from "../support/files.js";

describe("TLS with ALPN", () => {
  let dir: string;
  let server: TestServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "podfiles-tls-"));
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    server = await startTestServer({ tls: { cert: readFileSync(join(dir, "cert.pem")), key: readFileSync(join(dir, "key.pem")) } });
    writeFileSync(join(server.root, "tls.txt"), "over tls");
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves gRPC over h2 and Connect over HTTP/1.1 on one TLS port", async () => {
    expect(server.url.startsWith("https://")).toBe(true);
    const ca = readFileSync(join(dir, "cert.pem"));
    const grpc = createClient(FileService, createGrpcTransport({ baseUrl: server.url, nodeOptions: { ca } }));
    const h1 = createClient(FileService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1", nodeOptions: { ca } }));
    expect((await downloadAll(grpc, server.container, "/tls.txt")).data.toString()).toBe("over tls");
    expect((await h1.stat({ container: server.container, path: "/tls.txt" })).entry?.size).toBe(8n);
    const untrusted = createClient(FileService, createGrpcTransport({ baseUrl: server.url }));
    await expect(untrusted.stat({ container: server.container, path: "/tls.txt" })).rejects.toThrow();
  });
});

describe("call log", () => {
  it("writes one line per call with method, container, path, bytes, duration and status", async () => {
    const lines: Record<string, unknown>[] = [];
    const capture: Logger = { info: (f) => lines.push(f), warn: (f) => lines.push(f), error: (f) => lines.push(f) };
    const server = await startTestServer({ logger: capture });
    try {
      writeFileSync(join(server.root, "log.bin"), Buffer.alloc(12345));
      await downloadAll(server.clients.grpc, server.container, "/log.bin");
      await server.clients.connectJson.stat({ container: server.container, path: "/missing" }).catch(() => undefined);
      const calls = lines.filter((l) => l.msg === "call");
      expect(calls).toHaveLength(2);
      expect(calls[0]).toMatchObject({
        method: "podfiles.v1.FileService/Download",
        container: "local/local/local",
        path: "/log.bin",
        bytes: 12345n,
        status: "ok",
      });
      expect(typeof calls[0].ms).toBe("number");
      expect(calls[1]).toMatchObject({ method: "podfiles.v1.FileService/Stat", path: "/missing", status: "NotFound" });
    } finally {
      await server.close();
    }
  });
});
