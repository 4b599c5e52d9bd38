// Test certificate authorities and certificates made with the openssl command (Debian's), for the
// TLS client-certificate suites: a CA, client certificates it signs (subject, extended key usage,
// validity dates of one's choosing, expired ones included) and a serving certificate for loopback.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface IssueOptions {
  /** openssl -subj form, e.g. "/CN=alice/O=team-a/O=team-b". */
  subject: string;
  /** Extended key usage (default clientAuth). */
  eku?: "clientAuth" | "serverAuth";
  /** ASN.1 times, YYYYMMDDHHMMSSZ (default: from an hour ago, for a day). */
  startDate?: string;
  endDate?: string;
  /** subjectAltName for serving certificates, e.g. "IP:127.0.0.1,DNS:localhost". */
  san?: string;
}

const asn1 = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";

/** ca.cnf reads EKU and SAN from the environment when it is parsed, whatever the command. */
function openssl(args: string[], cwd: string, ext: { EKU?: string; SAN?: string } = {}): void {
  const env = { ...process.env, EKU: ext.EKU ?? "clientAuth", SAN: ext.SAN ?? "email:none@example.invalid" };
  execFileSync("openssl", args, { cwd, env, stdio: ["ignore", "ignore", "pipe"] });
}

export class TestCa {
  readonly dir: string;
  readonly cert: string;
  readonly certFile: string;
  private n = 0;

  constructor(readonly name: string) {
    this.dir = mkdtempSync(join(tmpdir(), `podfiles-ca-${name}-`));
    writeFileSync(join(this.dir, "index.txt"), "");
    writeFileSync(join(this.dir, "serial"), "01\n");
    writeFileSync(
      join(this.dir, "ca.cnf"),
      [
        "[ca]",
        "default_ca = ca_default",
        "[ca_default]",
        `database = ${join(this.dir, "index.txt")}`,
        `new_certs_dir = ${this.dir}`,
        `serial = ${join(this.dir, "serial")}`,
        "default_md = sha256",
        "policy = policy_any",
        "unique_subject = no",
        "copy_extensions = none",
        "[policy_any]",
        "commonName = optional",
        "organizationName = optional",
        "[leaf]",
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature, keyEncipherment",
        "extendedKeyUsage = ${ENV::EKU}",
        "subjectAltName = ${ENV::SAN}",
        "[req]",
        "distinguished_name = dn",
        "[dn]",
        "[ca_ext]",
        "basicConstraints = critical, CA:TRUE",
        "keyUsage = critical, keyCertSign, cRLSign",
        "subjectKeyIdentifier = hash",
      ].join("\n"),
    );
    openssl(
      [
        "req",
        "-x509",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        `/CN=${name}`,
        "-config",
        "ca.cnf",
        "-extensions",
        "ca_ext",
      ],
      this.dir,
    );
    this.certFile = join(this.dir, "ca.crt");
    this.cert = readFileSync(this.certFile, "utf8");
  }

  issue(o: IssueOptions): Pem {
    const id = `leaf${++this.n}`;
    openssl(
      [
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        `${id}.key`,
        "-out",
        `${id}.csr`,
        "-subj",
        o.subject,
        "-config",
        "ca.cnf",
      ],
      this.dir,
    );
    const now = Date.now();
    openssl(
      [
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-cert",
        "ca.crt",
        "-keyfile",
        "ca.key",
        "-in",
        `${id}.csr`,
        "-out",
        `${id}.crt`,
        "-notext",
        "-preserveDN",
        "-extensions",
        "leaf",
        "-startdate",
        o.startDate ?? asn1(new Date(now - 3600_000)),
        "-enddate",
        o.endDate ?? asn1(new Date(now + 86400_000)),
      ],
      this.dir,
      { EKU: o.eku, SAN: o.san },
    );
    const certFile = join(this.dir, `${id}.crt`);
    const keyFile = join(this.dir, `${id}.key`);
    return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile, keyFile };
  }

  /** A serving certificate for 127.0.0.1 and localhost. */
  serving(): Pem {
    return this.issue({ subject: "/CN=localhost", eku: "serverAuth", san: "IP:127.0.0.1,DNS:localhost" });
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
