import { describe, expect, it } from "vitest";
import type { FileServiceError } from "../errors.js";
import { certificateIdentity } from "./client-cert.js";

const refused = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return [(e as FileServiceError).kind, (e as Error).message];
  }
  return ["ok"];
};

describe("certificateIdentity", () => {
  it("CN is the user; every O is a group, plus system:authenticated", () => {
    expect(certificateIdentity({ authorized: true, subject: { CN: "alice", O: ["team-a", "team-b"], OU: "ignored" } })).toEqual({
      name: "alice",
      kind: "kubernetes",
      user: { username: "alice", groups: ["team-a", "team-b", "system:authenticated"] },
    });
    expect(certificateIdentity({ authorized: true, subject: { CN: "kubernetes-admin", O: "system:masters" } }).user?.groups).toEqual([
      "system:masters",
      "system:authenticated",
    ]);
    expect(certificateIdentity({ authorized: true, subject: { CN: "bob" } }).user?.groups).toEqual(["system:authenticated"]);
  });

  it("refuses an unverified certificate (whatever its subject), no CN, an empty CN, and two CNs", () => {
    expect(
      refused(() => certificateIdentity({ authorized: false, authorizationError: "CERT_HAS_EXPIRED", subject: { CN: "alice", O: "system:masters" } })),
    ).toEqual(["unauthenticated", expect.stringMatching(/^TLS client certificate not accepted \(CERT_HAS_EXPIRED\)/)]);
    expect(refused(() => certificateIdentity({ authorized: true, subject: { O: "team-a" } }))).toEqual([
      "unauthenticated",
      expect.stringMatching(/no common name/),
    ]);
    expect(refused(() => certificateIdentity({ authorized: true, subject: { CN: "" } }))).toEqual(["unauthenticated", expect.stringMatching(/no common name/)]);
    expect(refused(() => certificateIdentity({ authorized: true, subject: { CN: ["alice", "system:admin"] } }))).toEqual([
      "unauthenticated",
      expect.stringMatching(/2 common names/),
    ]);
  });
});
