import { describe, expect, it } from "vitest";
import { contentDisposition } from "./content-disposition.js";

/** the name back from the `filename*` parameter, as a browser reads it */
const decoded = (header: string) => decodeURIComponent(/filename\*=UTF-8''(.*)$/.exec(header)![1]!);

describe("contentDisposition", () => {
  it("keeps a plain name as it is", () => {
    expect(contentDisposition("report-2026.tar.gz")).toBe(`attachment; filename="report-2026.tar.gz"; filename*=UTF-8''report-2026.tar.gz`);
  });

  it("carries any name in filename*, as one header value of visible ASCII", () => {
    for (const name of ['a "quoted"; name', "line\r\nbreak", "Grüße ✓.txt", "%41 back\\slash", "tab\there", "\u0000nul"]) {
      const header = contentDisposition(name);
      expect(header).toMatch(/^[\x20-\x7e]+$/);
      expect(decoded(header)).toBe(name);
      expect(/filename="([^"]*)"/.exec(header)![1]).toMatch(/^[A-Za-z0-9._+()-]*$/);
    }
  });

  it("names an empty name `download`", () => {
    expect(decoded(contentDisposition(""))).toBe("download");
  });
});
