// execFind's filtering, digests and limit, run over a RootFs's list() and read() (the same
// ContainerFs calls it makes on an ExecFs; ExecFs's own listing is covered by the exec e2e suite).
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RootFs } from "../root/root-fs.js";
import { execFind } from "./exec-find.js";

let dir: string;
let fs: RootFs;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "podfiles-exec-find-"));
  mkdirSync(join(dir, "a/b"), { recursive: true });
  writeFileSync(join(dir, "a/one.log"), "one");
  writeFileSync(join(dir, "a/b/two.log"), "two");
  writeFileSync(join(dir, "a/b/skip.txt"), "x");
  fs = new RootFs({ root: dir });
});
afterAll(async () => {
  await fs.close();
  rmSync(dir, { recursive: true, force: true });
});

const collect = async (it: AsyncIterable<{ entry: { path: string }; digest?: Uint8Array }>) => {
  const out: Array<[string, string]> = [];
  for await (const m of it) out.push([m.entry.path, Buffer.from(m.digest ?? []).toString("hex")]);
  return out.sort();
};

describe("execFind", () => {
  it("filters the listing and digests matches through read()", async () => {
    expect(await collect(execFind(fs, "/a", { nameGlob: "*.log", maxDepth: 0, limit: 0, digest: "sha256" }))).toEqual([
      ["/a/b/two.log", createHash("sha256").update("two").digest("hex")],
      ["/a/one.log", createHash("sha256").update("one").digest("hex")],
    ]);
    expect(await collect(execFind(fs, "/a", { pathRegex: "^b/", maxDepth: 0, limit: 0 }))).toEqual([
      ["/a/b/skip.txt", ""],
      ["/a/b/two.log", ""],
    ]);
    expect(await collect(execFind(fs, "/a", { maxDepth: 0, limit: 2 }))).toHaveLength(2);
  });

  it("refuses a bad regex before listing", async () => {
    await expect(collect(execFind(fs, "/a", { pathRegex: "(", maxDepth: 0, limit: 0 }))).rejects.toThrow(/path_regex/);
  });
});
