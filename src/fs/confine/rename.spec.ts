import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfinedRoot } from "./index.js";

describe("renameNoReplace", () => {
  let base: string;
  let root: ConfinedRoot;
  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), "podfiles-rename-"));
    mkdirSync(join(base, "root/d"), { recursive: true });
    mkdirSync(join(base, "outside"));
    writeFileSync(join(base, "root/a"), "a");
    writeFileSync(join(base, "root/d/b"), "b");
  });
  afterEach(() => {
    root?.close();
    rmSync(base, { recursive: true, force: true });
  });

  const rename = async (from: string, to: string) => {
    const f = await root.openParent(from);
    const t = await root.openParent(to);
    try {
      return root.renameNoReplace(f.dirFd, f.name, t.dirFd, t.name);
    } finally {
      f.close();
      t.close();
    }
  };

  it("with openat2: renames atomically and refuses an existing target with EEXIST", async () => {
    root = ConfinedRoot.open(join(base, "root"), { strategy: "openat2" });
    await expect(rename("/a", "/d/b")).rejects.toMatchObject({ code: "EEXIST" });
    expect(readFileSync(join(base, "root/d/b"), "utf8")).toBe("b");
    expect(await rename("/a", "/d/c")).toBe(true);
    expect(readFileSync(join(base, "root/d/c"), "utf8")).toBe("a");
    expect(existsSync(join(base, "root/a"))).toBe(false);
  });

  it("a target behind a symlinked directory lands inside the root", async () => {
    root = ConfinedRoot.open(join(base, "root"), { strategy: "openat2" });
    symlinkSync(join(base, "outside"), join(base, "root/out"));
    mkdirSync(join(base, "root", base, "outside"), { recursive: true });
    expect(await rename("/a", "/out/moved")).toBe(true);
    expect(existsSync(join(base, "outside/moved"))).toBe(false);
    expect(readFileSync(join(base, "root", base, "outside/moved"), "utf8")).toBe("a");
  });

  it("with the walk strategy: reports false and does nothing (the caller checks and renames)", async () => {
    root = ConfinedRoot.open(join(base, "root"), { strategy: "walk" });
    expect(await rename("/a", "/d/c")).toBe(false);
    expect(existsSync(join(base, "root/a"))).toBe(true);
  });
});
