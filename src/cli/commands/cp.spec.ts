import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseEndpoint, validateCp, type CpOptions } from "./cp.js";
import { UsageError } from "./errors.js";

const dir = mkdtempSync(join(tmpdir(), "cp-spec-"));
const file = join(dir, "a.txt");
writeFileSync(file, "a");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const opts = (...paths: string[]): CpOptions => ({ paths, force: false, parents: false, progress: false, verbose: false, namespace: "ns" });

describe("cp's endpoints", () => {
  it("kubectl's rule: a colon after a name is remote; a path starting with / or . is local even with a colon", () => {
    expect(parseEndpoint("web-0:/etc/hosts", { namespace: "ns" })).toMatchObject({
      kind: "remote",
      remote: { container: { namespace: "ns", pod: "web-0" }, path: "/etc/hosts" },
    });
    expect(parseEndpoint("./a:b", {})).toMatchObject({ kind: "local", path: "./a:b" });
    expect(parseEndpoint("/tmp/a:b", {})).toMatchObject({ kind: "local" });
    expect(parseEndpoint("plain", {})).toMatchObject({ kind: "local" });
    expect(() => parseEndpoint("-", {})).toThrow(/put -/);
  });

  it("needs two paths, a remote side, and existing local sources", () => {
    expect(() => validateCp(opts("web-0:/x"))).toThrow(UsageError);
    expect(() => validateCp(opts(file, join(dir, "b")))).toThrow(/needs a remote side/);
    expect(() => validateCp(opts(join(dir, "missing"), "web-0:/x"))).toThrow(/no such local file/);
    const ok = validateCp(opts(file, "web-0:/tmp/", "prod/db-0:/y"));
    expect(ok.sources.map((s) => s.kind)).toEqual(["local", "remote"]);
    expect(ok.dest).toMatchObject({ kind: "remote", remote: { container: { namespace: "prod", pod: "db-0" } } });
  });
});
