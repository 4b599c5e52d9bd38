import { describe, expect, it } from "vitest";
import { normalizeOrigin } from "./cors.js";

describe("normalizeOrigin", () => {
  it("keeps scheme://host[:port]", () => {
    expect(normalizeOrigin("https://Example.com:443/")).toBe("https://example.com");
    expect(normalizeOrigin("http://a:8080")).toBe("http://a:8080");
    expect(normalizeOrigin("ftp://a")).toBeUndefined();
    expect(normalizeOrigin("nonsense")).toBeUndefined();
  });
});
