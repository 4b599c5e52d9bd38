// A self-signed serving certificate made at start, for a server that verifies TLS client
// certificates but was given no serving certificate of its own (the agent with a client CA).
// Its clients do not verify it: the kubeconfig tunnel reaches the agent through the API
// server's pods/portforward, which authenticated the endpoint already. It exists so that the
// TLS handshake can carry the client's certificate; it proves nothing about the server.
// node-forge writes the certificate (Node can verify X.509 but not issue it); the RSA key comes
// from Node's crypto (forge's own key generation is pure JS and takes seconds).
import { generateKeyPair, randomBytes, X509Certificate } from "node:crypto";
import { promisify } from "node:util";

export interface EphemeralCert {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, colon-separated hex (as `openssl x509 -fingerprint -sha256` prints it), for the start-up log. */
  fingerprint256: string;
}

export interface EphemeralCertOptions {
  commonName?: string;
  /** DNS names and IP addresses for subjectAltName (default localhost, 127.0.0.1, ::1). */
  altNames?: string[];
  /** Lifetime from now (default 365 days). */
  days?: number;
}

export async function ephemeralServingCert(o: EphemeralCertOptions = {}): Promise<EphemeralCert> {
  const { default: forge } = await import("node-forge");
  const { privateKey, publicKey } = await promisify(generateKeyPair)("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey);
  // a positive 128-bit serial (RFC 5280 4.1.2.2: at most 20 octets, non-negative)
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  cert.serialNumber = serial.toString("hex");
  const now = Date.now();
  cert.validity.notBefore = new Date(now - 5 * 60_000); // clock skew between nodes
  cert.validity.notAfter = new Date(now + (o.days ?? 365) * 86_400_000);
  const subject = [{ name: "commonName", value: o.commonName ?? "podfiles-agent" }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  const altNames = (o.altNames ?? ["localhost", "127.0.0.1", "::1"]).map((n) => (/^[\d.]+$|:/.test(n) ? { type: 7, ip: n } : { type: 2, value: n }));
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  const pem = forge.pki.certificateToPem(cert);
  return { cert: pem, key: privateKey, fingerprint256: new X509Certificate(pem).fingerprint256 };
}
