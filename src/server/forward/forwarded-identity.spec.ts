// The assertion's wire form: every name comes back exactly as it went (commas, spaces, non-ASCII,
// '%'), and anything else a header can hold is refused as malformed, never read as another name.
import { describe, expect, it } from "vitest";
import { FileServiceError } from "../../errors.js";
import { FORWARDED_GROUPS, FORWARDED_USER, forwardedIdentityHeaders, parseForwardedIdentity, type ForwardedIdentity } from "./forwarded-identity.js";

const roundTrip = (id: ForwardedIdentity) => {
  const h = forwardedIdentityHeaders(id);
  for (const v of Object.values(h)) expect(v).toMatch(/^[\x21-\x7e]+$/);
  return parseForwardedIdentity((n) => h[n] ?? null);
};
const parse = (h: Record<string, string>) => () => parseForwardedIdentity((n) => h[n] ?? null);

describe("forwarded identity headers", () => {
  it("round-trips plain names readably, and names with commas, spaces, '%' and non-ASCII exactly", () => {
    expect(forwardedIdentityHeaders({ user: "alice", groups: ["team-a", "system:authenticated"] })).toEqual({
      [FORWARDED_USER]: "alice",
      [FORWARDED_GROUPS]: "team-a,system:authenticated",
    });
    const odd = { user: "Dave, Jr. 100% é 😀", groups: ["a,b", " lead", "ü"] };
    expect(roundTrip(odd)).toEqual(odd);
    expect(roundTrip({ user: "carol", groups: [] })).toEqual({ user: "carol", groups: [] });
    expect(forwardedIdentityHeaders({ user: "carol", groups: [] })).toEqual({ [FORWARDED_USER]: "carol" });
  });

  it("refuses to write a name it cannot carry exactly (unpaired surrogate, empty user)", () => {
    expect(() => forwardedIdentityHeaders({ user: "a\uD800", groups: [] })).toThrow(/unpaired/);
    expect(() => forwardedIdentityHeaders({ user: "", groups: [] })).toThrow(/empty user/);
  });

  it("no headers: no assertion; malformed ones: UNAUTHENTICATED naming the fault", () => {
    expect(parseForwardedIdentity(() => null)).toBeUndefined();
    for (const [h, why] of [
      [{ [FORWARDED_GROUPS]: "a" }, /without podfiles-forwarded-user/],
      [{ [FORWARDED_USER]: "" }, /outside visible ASCII \(or is empty\)/],
      // Node joins a repeated header with ", "
      [{ [FORWARDED_USER]: "alice, bob" }, /outside visible ASCII/],
      [{ [FORWARDED_USER]: "al\u00e9" }, /outside visible ASCII/],
      [{ [FORWARDED_USER]: "%E0%A4%A" }, /percent-encoding/],
      [{ [FORWARDED_USER]: "a", [FORWARDED_GROUPS]: "x,,y" }, /a group in podfiles-forwarded-groups/],
      [{ [FORWARDED_USER]: "a", [FORWARDED_GROUPS]: "" }, /a group/],
    ] as const) {
      expect(parse(h as Record<string, string>)).toThrow(FileServiceError);
      expect(parse(h as Record<string, string>)).toThrow(why);
    }
  });
});
