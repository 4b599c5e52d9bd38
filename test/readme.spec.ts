// The README's code examples are files that CI runs: the TypeScript block is
// examples/ts/quickstart.mjs (installed from `npm pack` and run by test/sdk/pack.spec.ts), the Go
// block sdk/go/examples/quickstart/main.go (run by `go test ./...` in sdk/go). Each README block
// must equal its file byte for byte, and every TypeScript/JavaScript/Go block must be one of them.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");

const EXAMPLES: Record<string, string> = {
  js: "examples/ts/quickstart.mjs",
  go: "sdk/go/examples/quickstart/main.go",
};
const CODE_LANGUAGES = new Set(["js", "mjs", "ts", "typescript", "javascript", "go"]);

/** The fenced blocks of a Markdown text: language and body (ending in a newline). */
function codeBlocks(markdown: string): { lang: string; body: string; line: number }[] {
  const blocks: { lang: string; body: string; line: number }[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] ?? "");
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== "```"; i++) body.push(lines[i] ?? "");
    blocks.push({ lang: open[1] ?? "", body: body.map((l) => `${l}\n`).join(""), line: start + 1 });
  }
  return blocks;
}

describe("README.md code examples", () => {
  const blocks = codeBlocks(read("README.md")).filter((b) => CODE_LANGUAGES.has(b.lang));

  for (const [lang, file] of Object.entries(EXAMPLES)) {
    it(`shows ${file} verbatim`, () => {
      const shown = blocks.filter((b) => b.lang === lang);
      expect(shown.length, `README.md: one \`\`\`${lang} block`).toBe(1);
      expect(shown[0]?.body).toBe(read(file));
    });
  }

  it("has no other TypeScript, JavaScript or Go block (each would be untested)", () => {
    expect(blocks.filter((b) => !(b.lang in EXAMPLES)).map((b) => `line ${b.line}: ${b.lang}`)).toEqual([]);
  });
});

describe("codeBlocks", () => {
  it("finds a changed line", () => {
    const [block] = codeBlocks("text\n```go\npackage main\nfunc main() {}\n```\n");
    expect(block).toEqual({ lang: "go", body: "package main\nfunc main() {}\n", line: 2 });
    expect(block?.body).not.toBe("package main\nfunc main() { }\n");
  });
});
