import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RootFs } from "./root-fs.js";
import { claimedKeys } from "./target-claims.js";
import { isTempName, tempNameFor, truncateUtf8 } from "./temp-names.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), "podfiles-stale-"));
  dirs.push(d);
  return d;
};
const hourAgo = new Date(Date.now() - 3600_000);

describe("temp names", () => {
  it("stay within 255 bytes for any target name, cut between characters, and are recognised", () => {
    for (const name of ["a", "a".repeat(255), "€".repeat(85), "😀".repeat(63) + "abc", "é".repeat(127) + "x", "\u{10FFFF}".repeat(63)]) {
      const temp = tempNameFor(name);
      expect(Buffer.byteLength(temp)).toBeLessThanOrEqual(255);
      expect(isTempName(temp)).toBe(true);
      expect(temp).not.toContain("\uFFFD");
      expect(temp.startsWith(`.${name.slice(0, 2)}`)).toBe(true);
    }
    expect(truncateUtf8("a😀b", 4)).toBe("a");
    expect(truncateUtf8("a😀b", 5)).toBe("a😀");
    expect(isTempName(".x.podfiles-0123456789ab.partial")).toBe(false);
    expect(isTempName("x.podfiles-0123456789ab.part")).toBe(false);
    expect(isTempName(".x.podfiles-0123456789AB.part")).toBe(false);
    expect(isTempName(".line\nbreak.podfiles-0123456789ab.part")).toBe(true);
  });
});

describe("stale temp files", () => {
  it("the tree sweep removes leftovers on the root's filesystem, never through a symlink, never a live upload's temp file", async () => {
    const root = scratch();
    const outside = scratch();
    mkdirSync(join(root, "a/b"), { recursive: true });
    writeFileSync(join(outside, ".o.podfiles-0123456789ab.part"), "not ours");
    symlinkSync(outside, join(root, "a/out"));
    writeFileSync(join(root, "a/b/.f.podfiles-0123456789ab.part"), "left");
    const fs = new RootFs({ root });
    const writer = await fs.createWriter("/a/live.bin", { overwrite: "fail", offset: 0n, makeParents: false });
    await writer.write(Buffer.from("data"));
    await writer.flush();
    const live = readdirSync(join(root, "a")).find(isTempName)!;
    utimesSync(join(root, "a", live), hourAgo, hourAgo);

    const r = await fs.removeStaleTempFiles();
    expect(r).toMatchObject({ removed: 1, truncated: false });
    expect(existsSync(join(root, "a/b/.f.podfiles-0123456789ab.part"))).toBe(false);
    expect(existsSync(join(root, "a", live))).toBe(true);
    expect(existsSync(join(outside, ".o.podfiles-0123456789ab.part"))).toBe(true);
    await writer.commit();
    expect(claimedKeys()).toBe(0);

    const capped = await fs.removeStaleTempFiles({ maxEntries: 2 });
    expect(capped.truncated).toBe(true);
    await fs.close();
  });

  it("a writer opening in a directory removes only leftovers older than the session timeout, once per directory", async () => {
    const root = scratch();
    const old = ".old.podfiles-0123456789ab.part";
    const fresh = ".fresh.podfiles-0123456789ab.part";
    writeFileSync(join(root, old), "x");
    writeFileSync(join(root, fresh), "x");
    utimesSync(join(root, old), hourAgo, hourAgo);
    const fs = new RootFs({ root });
    const w = await fs.createWriter("/n.bin", { overwrite: "fail", offset: 0n, makeParents: false });
    for (let i = 0; i < 100 && existsSync(join(root, old)); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(join(root, old))).toBe(false);
    expect(existsSync(join(root, fresh))).toBe(true);
    await w.abort();
    // swept once: a new leftover waits for the next process (or the start-up sweep)
    const later = ".later.podfiles-0123456789ab.part";
    writeFileSync(join(root, later), "x");
    utimesSync(join(root, later), hourAgo, hourAgo);
    const w2 = await fs.createWriter("/n2.bin", { overwrite: "fail", offset: 0n, makeParents: false });
    await w2.abort();
    await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(root, later))).toBe(true);
    expect(claimedKeys()).toBe(0);
    await fs.close();
  });
});
