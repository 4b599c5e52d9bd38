// The connection flags of every command that serves (serve, serve --cri, agent): caps and
// deadlines applied at accept, before auth (src/server/connection-limits.ts).
import type { Command } from "commander";
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CONNECTIONS_PER_PEER,
  FD_RESERVE,
  type ConnectionLimitOptions,
} from "../server/connection-limits.js";

export interface ConnectionFlags {
  maxConnections?: number;
  maxConnectionsPerPeer?: number;
  handshakeTimeout?: number;
  idleTimeout?: number;
}

const positiveInt = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} ${v}: not a positive integer`);
  return n;
};
const seconds = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400) throw new Error(`${flag} ${v}: not a number of seconds (0 < s ≤ 86400)`);
  return n;
};

export function addConnectionOptions(cmd: Command): Command {
  return cmd
    .option(
      "--max-connections <n>",
      `connections open at once (default ${DEFAULT_MAX_CONNECTIONS}, lowered to fit the open-files limit: at most half of it and ${FD_RESERVE} below it); when full, the oldest connection that has not sent a request yet is closed to make room`,
      positiveInt("--max-connections"),
    )
    .option(
      "--max-connections-per-peer <n>",
      `connections open at once from one client address (default ${DEFAULT_MAX_CONNECTIONS_PER_PEER}, at most half of --max-connections); more are refused`,
      positiveInt("--max-connections-per-peer"),
    )
    .option(
      "--handshake-timeout <seconds>",
      `time a new connection has for the TLS handshake and its first request head (HTTP/1.1) or HTTP/2 preface and settings (default ${DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000})`,
      seconds("--handshake-timeout"),
    )
    .option(
      "--idle-timeout <seconds>",
      `an HTTP/2 connection with no call open this long gets a GOAWAY (default ${DEFAULT_IDLE_TIMEOUT_MS / 1000}; HTTP/1.1 keep-alive: 30)`,
      seconds("--idle-timeout"),
    );
}

export function connectionLimits(f: ConnectionFlags): ConnectionLimitOptions {
  return {
    maxConnections: f.maxConnections,
    maxConnectionsPerPeer: f.maxConnectionsPerPeer,
    handshakeTimeoutMs: f.handshakeTimeout === undefined ? undefined : Math.round(f.handshakeTimeout * 1000),
    idleTimeoutMs: f.idleTimeout === undefined ? undefined : Math.round(f.idleTimeout * 1000),
  };
}
