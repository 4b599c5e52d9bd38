// The tree walk's two ways of listing a directory give the same entries: the addon's batches
// (readDirStats, strategy "openat2") and opendir + an lstat per entry (the fallback, strategy
// "walk", as where the addon is not built). Both are checked against lstat(2) of the host tree,
// and both fail fast, without stalling anything else, on a hung mount inside the tree.
import { execFileSync } from "node:child_process";
import { linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hungMountUnavailable, mountHung, type HungMount } from "../../../test/support/hung-mount.js";
import { ConfinedRoot } from "../confine/index.js";
import type { Entry } from "../container-fs.js";
import { pathFromWire } from "../name-bytes.js";
import { RootFs } from "./root-fs.js";

const strategies = ["openat2", "walk"] as const;
const hostBytes = (root: string, path: string) => Buffer.concat([Buffer.from(root), Buffer.from(pathFromWire(path))]);

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("walkTree: batches from the addon and the lstat fallback", () => {
  let work: string;
  let root: string;
  const fss = new Map<string, RootFs>();
  beforeAll(() => {
    work = realpathSync(mkdtempSync(join(tmpdir(), "podfiles-tree-walk-")));
    root = join(work, "root");
    mkdirSync(join(root, "t", "a", "b", "c"), { recursive: true });
    mkdirSync(join(work, "outside"));
    writeFileSync(join(work, "outside", "secret"), "SECRET");
    writeFileSync(join(root, "t", "a", "b", "c", "deep.txt"), "deep");
    writeFileSync(join(root, "t", "file"), "x".repeat(3000), { mode: 0o604 });
    linkSync(join(root, "t", "file"), join(root, "t", "a", "hardlink"));
    mkdirSync(join(root, "t", ".hidden-dir"));
    writeFileSync(join(root, "t", ".hidden-dir", "inside"), "");
    writeFileSync(join(root, "t", ".dotfile"), "");
    symlinkSync(join(work, "outside"), join(root, "t", "to-outside")); // a directory outside: never entered
    symlinkSync("../..", join(root, "t", "a", "up"));
    symlinkSync(Buffer.from([0x2e, 0x2e, 0x2f, 0xff]), Buffer.from(join(root, "t", "bad-target")));
    writeFileSync(Buffer.concat([Buffer.from(join(root, "t") + "/"), Buffer.from([0x6e, 0xe9, 0x0a, 0x2e])]), "latin-1 and a newline");
    execFileSync("mkfifo", [join(root, "t", "fifo")]);
    mkdirSync(join(root, "t", "big"));
    for (let i = 0; i < 2500; i++) writeFileSync(join(root, "t", "big", `e${i}`), ""); // more than one batch (1,024)
    for (const s of strategies) fss.set(s, new RootFs({ root, strategy: s }));
  });
  afterAll(async () => {
    for (const fs of fss.values()) await fs.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("the addon path is the one in use with openat2, the lstat path with walk", () => {
    expect(fss.get("openat2")!.strategy).toBe("openat2");
    const native = ConfinedRoot.open(root, { strategy: "openat2" });
    const fallback = ConfinedRoot.open(root, { strategy: "walk" });
    try {
      expect(native.readsDirectoryStats).toBe(true);
      expect(fallback.readsDirectoryStats).toBe(false);
    } finally {
      native.close();
      fallback.close();
    }
  });

  for (const s of strategies) {
    it(`${s}: every entry once, as lstat(2) of the host file gives it; symlinks listed, never followed`, async () => {
      const entries = await collect(fss.get(s)!.list("/t", { includeHidden: true, recursive: true, maxDepth: 0 }));
      const paths = entries.map((e) => e.path);
      expect(new Set(paths).size).toBe(paths.length);
      expect(paths.length).toBe(2500 + 15);
      expect(paths.filter((p) => p.startsWith("/t/to-outside/") || p.startsWith("/t/a/up/"))).toEqual([]);
      for (const e of entries) {
        const host = hostBytes(root, e.path);
        const st = lstatSync(host, { bigint: true });
        const want: Partial<Entry> = {
          mode: Number(st.mode),
          size: st.size,
          uid: Number(st.uid),
          gid: Number(st.gid),
          nlink: Number(st.nlink),
          mtimeMs: Number(st.mtimeMs),
        };
        expect({ path: e.path, mode: e.mode, size: e.size, uid: e.uid, gid: e.gid, nlink: e.nlink, mtimeMs: e.mtimeMs }).toEqual({ path: e.path, ...want });
        if (e.type === "symlink") expect(Buffer.from(pathFromWire(e.symlinkTarget!))).toEqual(readlinkSync(host, { encoding: "buffer" }));
        else expect(e.symlinkTarget).toBeUndefined();
      }
      const byPath = new Map(entries.map((e) => [e.path, e]));
      expect(byPath.get("/t/fifo")!.type).toBe("fifo");
      expect(byPath.get("/t/to-outside")!.type).toBe("symlink");
      expect(byPath.get("/t/to-outside")!.symlinkTarget).toBe(join(work, "outside"));
      expect(byPath.get("/t/bad-target")!.symlinkTarget).toBe("../\\xff");
      expect(byPath.get("/t/n\\xe9\n.")!.size).toBe(21n);
      expect(byPath.get("/t/a/hardlink")!.nlink).toBe(2);
      expect(byPath.get("/t/a/b/c/deep.txt")!.size).toBe(4n);
    });
  }

  it("both paths give the same listings, finds and disk usage (hidden names left out, depth limits, hard links once)", async () => {
    const [a, b] = strategies.map((s) => fss.get(s)!);
    const sorted = <T>(xs: T[], key: (x: T) => string) => xs.sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
    for (const options of [
      { includeHidden: false, recursive: true, maxDepth: 0 },
      { includeHidden: true, recursive: true, maxDepth: 2 },
      { includeHidden: true, recursive: false, maxDepth: 0 },
    ]) {
      const [x, y] = await Promise.all([collect(a!.list("/t", options)), collect(b!.list("/t", options))]);
      expect(x.length).toBeGreaterThan(0);
      expect(sorted(x, (e) => e.path)).toEqual(sorted(y, (e) => e.path));
      if (!options.includeHidden) expect(x.some((e) => e.name.startsWith("."))).toBe(false);
    }
    const finds = await Promise.all([a, b].map((fs) => collect(fs!.find("/t", { maxDepth: 0, limit: 0, nameGlob: "*e*", digest: "sha256" }))));
    expect(finds[0]!.length).toBeGreaterThan(2500);
    expect(sorted(finds[0]!, (m) => m.entry.path)).toEqual(sorted(finds[1]!, (m) => m.entry.path));
    const dus = await Promise.all([a, b].map((fs) => collect(fs!.diskUsage("/t", { maxDepth: 0, apparentSize: true }))));
    expect(dus[0]).toEqual(dus[1]);
    expect(dus[0]!.find((d) => d.path === "/t")).toBeDefined();
  });
});

const noFuse = hungMountUnavailable();

describe.skipIf(noFuse !== undefined)(`walkTree over a hung mount${noFuse ? ` (skipped: ${noFuse})` : ""}`, () => {
  let work: string;
  let hung: HungMount;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "podfiles-tree-walk-hung-"));
    // two levels below the walk's top: the directory holding the mount is not the top
    mkdirSync(join(work, "root", "mnt", "x", "a", "hung"), { recursive: true });
    writeFileSync(join(work, "root", "mnt", "before"), "");
    writeFileSync(join(work, "root", "ok.txt"), "fine");
    hung = await mountHung(join(work, "root", "mnt", "x", "a", "hung"));
  });
  afterAll(async () => {
    await hung?.release();
    rmSync(work, { recursive: true, force: true });
  });

  for (const s of strategies) {
    it(`${s}: Find over a directory holding the mount fails with UNAVAILABLE at the deadline; Stat elsewhere answers meanwhile`, async () => {
      const fs = new RootFs({ root: join(work, "root"), strategy: s, fsDeadlineMs: 1_500 });
      try {
        const t0 = performance.now();
        const walking = collect(fs.find("/mnt", { maxDepth: 0, limit: 0 })).then(
          () => "finished",
          (err: Error) => err,
        );
        await new Promise((r) => setTimeout(r, 300));
        const t1 = performance.now();
        expect((await fs.stat("/ok.txt", { followSymlinks: false })).size).toBe(4n);
        expect(performance.now() - t1).toBeLessThan(200);
        const err = await walking;
        expect(err).toBeInstanceOf(Error);
        // the lstat path names the entry that hangs; a batch can only name its directory
        expect((err as Error).message).toMatch(
          s === "walk"
            ? /^\/mnt\/x\/a\/hung: did not answer within 1\.5 s \(a hung mount\?\)/
            : /^\/mnt\/x\/a: did not answer within 1\.5 s \(a hung mount\?\)/,
        );
        expect(performance.now() - t0).toBeLessThan(4_000);
      } finally {
        await fs.close();
      }
    }, 15_000);
  }

  it("after the mount answers again (ENOTCONN), no fd of the failed walks is left open", async () => {
    await hung.release();
    const held = () =>
      readdirSync("/proc/self/fd")
        .map((f) => {
          try {
            return readlinkSync(`/proc/self/fd/${f}`);
          } catch {
            return "";
          }
        })
        .filter((p) => p.startsWith(work));
    for (let i = 0; i < 40 && held().length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(held()).toEqual([]);
  });
});
