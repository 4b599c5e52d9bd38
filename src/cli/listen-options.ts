// The listen flags of every command that serves (serve, serve --cri, agent) and their one check.
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ephemeralServingCert } from "../server/ephemeral-cert.js";
import type { TlsOptions } from "../server/transport.js";

export interface ListenFlags {
  port: number;
  host: string;
  tlsCert?: string;
  tlsKey?: string;
  /** PEM CA bundle for TLS client certificates; "none" = off (the agent's default looks the cluster's up). */
  clientCaFile?: string;
  allowCleartext?: boolean;
}

export interface ResolvedListen {
  port: number;
  host: string;
  /** PEM files; undefined = plaintext (h2c and HTTP/1.1), unless a client CA brings TLS in. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** The client CA file given; "none" when turned off explicitly; undefined when not given. */
  clientCaFile: string | undefined;
  allowCleartext: boolean;
}

export function addListenOptions(cmd: Command, o: { hostHelp: string; tls: boolean; clientCaHelp?: string }): Command {
  cmd.option("--port <n>", "port (0 = any free port)", (v) => Number(v), 8080).option("--host <addr>", o.hostHelp, "127.0.0.1");
  if (o.tls) {
    cmd
      .option("--tls-cert <file>", "PEM certificate: serve TLS (h2 + http/1.1 by ALPN)")
      .option("--tls-key <file>", "PEM private key for --tls-cert")
      .option("--allow-cleartext", "with --tls-cert: serve cleartext (h2c, HTTP/1.1) on the same port too (the first byte tells them apart)");
  }
  if (o.clientCaHelp) cmd.option("--client-ca-file <file>", o.clientCaHelp);
  return cmd;
}

export function validateListen(o: ListenFlags): ResolvedListen {
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error(`--port ${o.port}: not a port number`);
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new Error("--tls-cert and --tls-key go together");
  if (o.allowCleartext && !o.tlsCert) throw new Error("--allow-cleartext goes with --tls-cert (without TLS the port is cleartext anyway)");
  if (o.clientCaFile && o.clientCaFile !== "none") readClientCa(o.clientCaFile);
  return {
    port: o.port,
    host: o.host,
    tls: o.tlsCert && o.tlsKey ? { certFile: o.tlsCert, keyFile: o.tlsKey } : undefined,
    clientCaFile: o.clientCaFile,
    allowCleartext: o.allowCleartext === true,
  };
}

/** The PEM text of a client CA file; throws a message for the user unless it holds a certificate. */
export function readClientCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`--client-ca-file ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
  try {
    new X509Certificate(pem);
  } catch {
    throw new Error(`--client-ca-file ${file}: not a PEM certificate bundle`);
  }
  return pem;
}

/** The server's `tls` option: the PEM files read (no client certificates). */
export function readTls(l: ResolvedListen): TlsOptions | undefined {
  return l.tls && { cert: readFileSync(l.tls.certFile), key: readFileSync(l.tls.keyFile), allowCleartext: l.allowCleartext };
}

/**
 * The server's `tls` option when TLS client certificates may be on. With a client CA and no
 * serving certificate, one is made for this run (src/server/ephemeral-cert.ts) and cleartext
 * stays on beside it: the port served cleartext before, and a certificate nobody verifies adds
 * nothing a cleartext client lost. With --tls-cert, cleartext only with --allow-cleartext.
 */
export async function serverTls(l: ResolvedListen, clientCa: string | undefined): Promise<{ tls?: TlsOptions; ephemeral?: { fingerprint256: string } }> {
  const files = readTls(l);
  if (files) return { tls: { ...files, ...(clientCa ? { clientCa } : {}) } };
  if (!clientCa) return {};
  const made = await ephemeralServingCert();
  return { tls: { cert: made.cert, key: made.key, clientCa, allowCleartext: true }, ephemeral: { fingerprint256: made.fingerprint256 } };
}
