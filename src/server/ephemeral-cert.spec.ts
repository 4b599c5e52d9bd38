import { execFileSync } from "node:child_process";
import { X509Certificate, createPrivateKey } from "node:crypto";
import * as tls from "node:tls";
import { describe, expect, it } from "vitest";
import { ephemeralServingCert } from "./ephemeral-cert.js";

describe("ephemeralServingCert", () => {
  it("is a self-signed serving certificate for its key that openssl and Node's TLS accept, unique per call", async () => {
    const a = await ephemeralServingCert({ altNames: ["localhost", "127.0.0.1", "::1", "node-b"] });
    const x = new X509Certificate(a.cert);
    expect(x.subject).toBe("CN=podfiles-agent");
    expect(x.issuer).toBe(x.subject);
    expect(x.ca).toBe(false);
    expect(x.checkPrivateKey(createPrivateKey(a.key))).toBe(true);
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.subjectAltName).toBe("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:node-b");
    expect(x.checkHost("node-b")).toBe("node-b");
    expect(new Date(x.validTo).getTime() - Date.now()).toBeGreaterThan(364 * 86_400_000);
    expect(a.fingerprint256).toBe(x.fingerprint256);
    // openssl: a valid self-signed serving certificate (purpose sslserver)
    const out = execFileSync("openssl", ["x509", "-noout", "-ext", "extendedKeyUsage,basicConstraints"], { input: a.cert }).toString();
    expect(out).toMatch(/TLS Web Server Authentication/);
    expect(out).toMatch(/CA:FALSE/);
    expect(() => tls.createSecureContext({ cert: a.cert, key: a.key })).not.toThrow();
    const b = await ephemeralServingCert();
    expect(b.fingerprint256).not.toBe(a.fingerprint256);
    expect(new X509Certificate(b.cert).serialNumber).not.toBe(x.serialNumber);
  });
});
