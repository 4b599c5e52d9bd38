// The five wire protocols the server speaks, by hand: request bodies (enveloped binary or JSON),
// a raw HTTP/1.1 request on a net.Socket or a raw HTTP/2 stream that the test then tears down, and
// `curl -N … | head -c 2000`, the shape the issue used to kill the server.
import { spawn } from "node:child_process";
import * as http2 from "node:http2";
import * as net from "node:net";
import { toBinary, toJsonString, type DescMessage, type MessageShape } from "@bufbuild/protobuf";

export const PROTOCOLS = ["grpc", "connectBinaryH1", "connectH2", "connectJson", "grpcWeb"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

interface Wire {
  http: "1.1" | "2";
  contentType: string;
  headers: Record<string, string>;
  json: boolean;
}

export const WIRE: Record<Protocol, Wire> = {
  grpc: { http: "2", contentType: "application/grpc+proto", headers: { te: "trailers" }, json: false },
  connectH2: { http: "2", contentType: "application/connect+proto", headers: { "connect-protocol-version": "1" }, json: false },
  connectBinaryH1: { http: "1.1", contentType: "application/connect+proto", headers: { "connect-protocol-version": "1" }, json: false },
  connectJson: { http: "1.1", contentType: "application/connect+json", headers: { "connect-protocol-version": "1" }, json: true },
  grpcWeb: { http: "1.1", contentType: "application/grpc-web+proto", headers: { "x-grpc-web": "1" }, json: false },
};

/** One length-prefixed message of a streaming call, in the protocol's encoding. */
export function envelope<Desc extends DescMessage>(protocol: Protocol, schema: Desc, message: MessageShape<Desc>): Buffer {
  const payload = WIRE[protocol].json ? Buffer.from(toJsonString(schema, message)) : Buffer.from(toBinary(schema, message));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

export interface RawCall {
  /** Response bytes received (HTTP/1.1: including the head) when the connection was torn down. */
  received: number;
  /** Why the connection ended: "destroyed" by us, "ended" by the server, or "timeout". */
  how: "destroyed" | "ended" | "timeout";
}

export interface RawOptions {
  /** Tear the connection down once this many response bytes arrived (0: right after sending). */
  destroyAfterBytes?: number;
  /** Tear it down after this many ms regardless (e.g. mid-upload); default: the bound alone. */
  destroyAfterMs?: number;
  /** Leave the request body unfinished (a client stream cut mid-way). */
  keepBodyOpen?: boolean;
  /** Hard bound for the whole exchange (default 10 s). */
  boundMs?: number;
}

/**
 * POSTs the bodies to /podfiles.v1.FileService/METHOD over a fresh connection in the protocol's
 * HTTP version, then destroys the socket (HTTP/1.1) or the session (HTTP/2) mid-stream.
 */
export function rawCallThenDestroy(url: string, protocol: Protocol, method: string, bodies: Buffer[], o: RawOptions = {}): Promise<RawCall> {
  const wire = WIRE[protocol];
  const path = `/podfiles.v1.FileService/${method}`;
  const threshold = o.destroyAfterBytes ?? Infinity;
  return new Promise((resolve) => {
    let received = 0;
    let done = false;
    let destroy: () => void = () => {};
    const finish = (how: RawCall["how"]) => {
      if (done) return;
      done = true;
      clearTimeout(bound);
      clearTimeout(timed);
      destroy();
      resolve({ received, how });
    };
    const bound = setTimeout(() => finish("timeout"), o.boundMs ?? 10_000);
    const timed = o.destroyAfterMs === undefined ? undefined : setTimeout(() => finish("destroyed"), o.destroyAfterMs);
    const onData = (n: number) => {
      received += n;
      if (received >= threshold) finish("destroyed");
    };
    if (wire.http === "1.1") {
      const { hostname, port } = new URL(url);
      const socket = net.connect(Number(port), hostname);
      destroy = () => socket.destroy();
      socket.on("error", () => finish("ended"));
      socket.on("close", () => finish("ended"));
      socket.on("data", (d: Buffer) => onData(d.length));
      socket.on("connect", () => {
        const headers = { "content-type": wire.contentType, ...wire.headers, "transfer-encoding": "chunked" };
        const head = [`POST ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)].join("\r\n");
        socket.write(`${head}\r\n\r\n`);
        for (const b of bodies) socket.write(Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from("\r\n")]));
        if (!o.keepBodyOpen) socket.write("0\r\n\r\n");
        if (threshold === 0) finish("destroyed");
      });
    } else {
      const session = http2.connect(url);
      destroy = () => session.destroy();
      session.on("error", () => finish("ended"));
      session.on("close", () => finish("ended"));
      const stream = session.request({ ":method": "POST", ":path": path, "content-type": wire.contentType, ...wire.headers });
      stream.on("error", () => finish("ended"));
      stream.on("data", (d: Buffer) => onData(d.length));
      stream.on("end", () => finish("ended"));
      for (const b of bodies) stream.write(b);
      if (!o.keepBodyOpen) stream.end();
      if (threshold === 0) stream.once("ready", () => finish("destroyed"));
    }
  });
}

/**
 * The shape: `curl -N -X POST … | head -c 2000` (curl dies of SIGPIPE once head has its
 * 2000 bytes and exits). Resolves with the shell's exit code; bounded.
 */
export function curlHead(url: string, protocol: Protocol, method: string, body: Buffer, bytes = 2000, boundMs = 15_000): Promise<number | null> {
  const wire = WIRE[protocol];
  const args = [
    "-sN",
    "--max-time",
    String(Math.ceil(boundMs / 1000)),
    wire.http === "2" ? "--http2-prior-knowledge" : "--http1.1",
    "-X",
    "POST",
    "-H",
    `content-type: ${wire.contentType}`,
    ...Object.entries(wire.headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
    "--data-binary",
    "@-",
    `${url}/podfiles.v1.FileService/${method}`,
  ];
  return new Promise((resolve) => {
    const sh = spawn("sh", ["-c", `curl "$@" | head -c ${bytes} > /dev/null`, "sh", ...args], { stdio: ["pipe", "ignore", "ignore"] });
    const bound = setTimeout(() => sh.kill("SIGKILL"), boundMs);
    sh.on("exit", (code) => {
      clearTimeout(bound);
      resolve(code);
    });
    sh.stdin!.on("error", () => {});
    sh.stdin!.end(body);
  });
}
