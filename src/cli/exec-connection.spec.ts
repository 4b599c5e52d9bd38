// The --via exec server's ephemeral JWT secret: always a key parseKey accepts. Raw random bytes
// failed whenever the last one was "\n" or "\r" (parseKey trims those from secrets read from files):
// 2 runs in 256 (CI saw it once in test/cli/via-exec.spec.ts); 2,000 draws make that near certain.
import { describe, expect, it } from "vitest";
import { parseKey } from "../auth/keys.js";
import { ephemeralSecret } from "./exec-connection.js";

describe("ephemeralSecret", () => {
  it("always gives a secret parseKey takes as HS256, whatever the random bytes end with", () => {
    for (let i = 0; i < 2000; i++) expect(parseKey("via-exec", ephemeralSecret(), "--via exec").alg).toBe("HS256");
    const newlines = (n: number) => Buffer.alloc(n, 0x0a);
    const key = parseKey("via-exec", ephemeralSecret(newlines), "--via exec");
    expect(key.alg).toBe("HS256");
  });

  it("differs from call to call (48 bytes from the CSPRNG as base64: 64 characters)", () => {
    const a = ephemeralSecret();
    expect(a.length).toBe(64);
    expect(a.equals(ephemeralSecret())).toBe(false);
  });
});
