// The clients file of IssueToken (typically mounted from a Secret):
//
//   {"clients": [{"name": "ci", "passwordHash": "$scrypt$ln=15,r=8,p=1$…$…",
//                 "scope": {"namespaces": ["team-a"], "pods": ["web-0"], "verbs": ["get"]},
//                 "maxTtlSeconds": 3600}]}
import { readFileSync } from "node:fs";
import { parsePasswordHash } from "./passwords.js";
import { parseScope, type Scope } from "./scope.js";

export interface Client {
  name: string;
  passwordHash: ReturnType<typeof parsePasswordHash>;
  scope: Scope;
  /** Longest token this client may get (capped by the server's maximum). */
  maxTtlSeconds?: number;
}

export function parseClients(text: string, where: string): Map<string, Client> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: not JSON: ${(err as Error).message}`);
  }
  const list = (doc as { clients?: unknown })?.clients;
  if (!Array.isArray(list)) throw new Error(`${where}: expected {"clients": [...]}`);
  const clients = new Map<string, Client>();
  list.forEach((c: Record<string, unknown>, i) => {
    const at = `${where}: clients[${i}]`;
    if (typeof c?.name !== "string" || !/^[A-Za-z0-9._@-]{1,128}$/.test(c.name)) throw new Error(`${at}: name must be 1-128 characters of A-Z a-z 0-9 . _ @ -`);
    if (clients.has(c.name)) throw new Error(`${at}: duplicate client "${c.name}"`);
    if (typeof c.passwordHash !== "string") throw new Error(`${at} (${c.name}): passwordHash is required`);
    let passwordHash;
    try {
      passwordHash = parsePasswordHash(c.passwordHash);
    } catch (err) {
      throw new Error(`${at} (${c.name}): passwordHash: ${(err as Error).message}`);
    }
    const max = c.maxTtlSeconds;
    if (max !== undefined && (!Number.isInteger(max) || (max as number) <= 0)) throw new Error(`${at} (${c.name}): maxTtlSeconds must be a positive integer`);
    clients.set(c.name, { name: c.name, passwordHash, scope: parseScope(c.scope, `${at} (${c.name})`), maxTtlSeconds: max as number | undefined });
  });
  return clients;
}

export const loadClients = (file: string) => parseClients(readFileSync(file, "utf8"), file);
