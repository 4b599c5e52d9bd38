// The listen flags of every command that serves (serve, serve --cri, agent) and their one check.
import { readFileSync } from "node:fs";
import type { Command } from "commander";

export interface ListenFlags {
  port: number;
  host: string;
  tlsCert?: string;
  tlsKey?: string;
}

export interface ResolvedListen {
  port: number;
  host: string;
  /** PEM files; undefined = plaintext (h2c and HTTP/1.1). */
  tls: { certFile: string; keyFile: string } | undefined;
}

export function addListenOptions(cmd: Command, o: { hostHelp: string; tls: boolean }): Command {
  cmd.option("--port <n>", "port (0 = any free port)", (v) => Number(v), 8080).option("--host <addr>", o.hostHelp, "127.0.0.1");
  if (o.tls) {
    cmd.option("--tls-cert <file>", "PEM certificate: serve TLS (h2 + http/1.1 by ALPN)").option("--tls-key <file>", "PEM private key for --tls-cert");
  }
  return cmd;
}

export function validateListen(o: ListenFlags): ResolvedListen {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error(`--port ${o.port}: not a port number`);
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new Error("--tls-cert and --tls-key go together");
  return { port: o.port, host: o.host, tls: o.tlsCert && o.tlsKey ? { certFile: o.tlsCert, keyFile: o.tlsKey } : undefined };
}

/** The server's `tls` option: the PEM files read. */
export function readTls(l: ResolvedListen): { cert: Buffer; key: Buffer } | undefined {
  return l.tls && { cert: readFileSync(l.tls.certFile), key: readFileSync(l.tls.keyFile) };
}
