import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { kubeletAccess } from "./kubelet-options.js";

describe("kubeletAccess (--exec-reads-via-kubelet and its flags)", () => {
  it("off unless asked; a CA without the switch is a usage error, not silently ignored", () => {
    expect(kubeletAccess({})).toBeUndefined();
    expect(() => kubeletAccess({ kubeletCertificateAuthority: "/x" })).toThrow("--kubelet-certificate-authority needs --exec-reads-via-kubelet");
  });

  it("port 10250 by default, the cluster CA unless a file is given", () => {
    expect(kubeletAccess({ execReadsViaKubelet: true })).toEqual({ port: 10250 });
    const dir = mkdtempSync(join(tmpdir(), "kubelet-ca-"));
    writeFileSync(join(dir, "ca.pem"), "PEM");
    expect(kubeletAccess({ execReadsViaKubelet: true, kubeletPort: "10255", kubeletCertificateAuthority: join(dir, "ca.pem") })).toEqual({
      port: 10255,
      ca: Buffer.from("PEM"),
    });
  });

  it("a bad port or an unreadable CA names the flag", () => {
    expect(() => kubeletAccess({ execReadsViaKubelet: true, kubeletPort: "70000" })).toThrow("--kubelet-port 70000: not a port number");
    expect(() => kubeletAccess({ execReadsViaKubelet: true, kubeletCertificateAuthority: "/nonexistent/ca" })).toThrow("cannot be read");
  });
});
