// What the browser and kube-finder specs share: Debian's Chromium (no browser can be downloaded
// here: .ci/run installs the `chromium` package), `podfiles serve` in its own process, with or
// without JWT auth, and files with known SHA-256s.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { hashPassword } from "../../src/auth/passwords.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";

export const CHROMIUM = process.env.PODFILES_CHROMIUM ?? "/usr/bin/chromium";
export const ARTIFACTS = fileURLToPath(new URL("./artifacts/", import.meta.url));

/** Chromium headless; a missing browser fails the suite with what to install. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it) or PODFILES_CHROMIUM=/path/to/chrome`,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  // root in a container: Chromium's sandbox needs user namespaces it may not get
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}

export const tempDir = (prefix: string) => mkdtemp(join(tmpdir(), prefix));

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest("hex");
}

/** A file of `mib` MiB of random bytes (written in 4 MiB pieces) and its SHA-256. */
export function randomFile(path: string, mib: number): string {
  const h = createHash("sha256");
  const piece = 4;
  const parts: Buffer[] = [];
  for (let i = 0; i < mib; i += piece) {
    const b = randomBytes(Math.min(piece, mib - i) * 1024 * 1024);
    h.update(b);
    parts.push(b);
  }
  writeFileSync(path, Buffer.concat(parts));
  return h.digest("hex");
}

export interface AuthServer extends ServerProcess {
  /** clients of the clients file: "writer" may do everything, "reader" only get (read) */
  passwords: { writer: string; reader: string };
}

/** `podfiles serve --auth jwt` with two IssueToken clients (a writer and a read-only one). */
export async function startAuthServer(root: string, dir: string): Promise<AuthServer> {
  const key = join(dir, "jwt.key");
  writeFileSync(key, randomBytes(32).toString("hex"), { mode: 0o600 });
  const passwords = { writer: "writer-password-1", reader: "reader-password-1" };
  const clients = {
    clients: [
      { name: "writer", passwordHash: await hashPassword(passwords.writer), scope: { namespaces: ["*"], verbs: ["*"] } },
      { name: "reader", passwordHash: await hashPassword(passwords.reader), scope: { namespaces: ["*"], verbs: ["get"] } },
    ],
  };
  const clientsFile = join(dir, "clients.json");
  writeFileSync(clientsFile, JSON.stringify(clients), { mode: 0o600 });
  const server = await startServerProcess(root, ["--auth", "jwt", "--jwt-key", key, "--auth-clients", clientsFile]);
  return { ...server, passwords };
}
