// A tar extraction commits its files (fsync, then the name) while it receives the next members:
// these specs count commits in flight — through a wrapped fs-sys.fsync on the node:fs path
// ("walk", no addon), through a wrapped addon commitFile on the "openat2" path — and check what the
// overlap must not change: the last of two members with one name wins, a member under a name still
// being committed waits for it, a failed commit fails the call and leaves no temp file and no fd.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tar from "tar-stream";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";

const probe = vi.hoisted(() => ({ inFlight: 0, most: 0, delayMs: 0, failOn: -1, calls: 0, native: 0 }));

/** Counts one commit (or fsync) while `run` goes on; the failOn-th call fails with EIO in `syscall`. */
const probed = vi.hoisted(() => async (syscall: string, run: () => Promise<void>) => {
  const call = probe.calls++;
  probe.inFlight++;
  probe.most = Math.max(probe.most, probe.inFlight);
  try {
    if (probe.delayMs) await new Promise((r) => setTimeout(r, probe.delayMs));
    if (call === probe.failOn) throw Object.assign(new Error(`EIO: i/o error, ${syscall}`), { code: "EIO", errno: -5, syscall });
    await run();
  } finally {
    probe.inFlight--;
  }
});

vi.mock("./fs-sys.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("./fs-sys.js")>();
  return { ...real, fsync: (fd: number) => probed("fsync", () => real.fsync(fd)) };
});

vi.mock("../confine/native.js", async (importOriginal) => {
  const real = await importOriginal<typeof import("../confine/native.js")>();
  const status = real.nativeStatus();
  const commitFile = status.binding?.commitFile;
  if (!status.binding || !commitFile) return real;
  const binding = Object.create(status.binding);
  binding.commitFile = (...args: Parameters<typeof commitFile>) => {
    probe.native++;
    return probed("fsync", () => commitFile.apply(status.binding, args));
  };
  return { ...real, nativeStatus: () => ({ ...status, binding }) };
});

const { RootFs } = await import("./root-fs.js");
const { WRITES_IN_FLIGHT } = await import("../../pending-writes.js");
const { isTempName } = await import("./temp-names.js");

type Member = { name: string; body?: string; type?: "file" | "directory" | "symlink" | "link"; linkname?: string };

async function* tarOf(members: Member[]): AsyncGenerator<Uint8Array> {
  const pack = tar.pack();
  for (const m of members) {
    const header = { name: m.name, type: m.type ?? "file", linkname: m.linkname, mode: 0o644 };
    if (m.type && m.type !== "file") pack.entry(header);
    else pack.entry(header, m.body ?? "");
  }
  pack.finalize();
  yield* pack as AsyncIterable<Uint8Array>;
}

const files = (n: number, dir = "d") => Array.from({ length: n }, (_, i) => ({ name: `${dir}/f${i}`, body: `body ${i}` }));

const { ConfinedRoot } = await import("../confine/confined-root.js");
const strategies = ConfinedRoot.nativeStatus().available ? (["walk", "openat2"] as const) : (["walk"] as const);

describe.each(strategies)("tar extraction (%s): commits overlap the next members", (strategy) => {
  const scratch: string[] = [];
  afterAll(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));
  afterEach(() => {
    // the addon's path is taken where the addon is in use, and only there
    if (strategy === "walk") expect(probe.native).toBe(0);
    else expect(probe.native).toBeGreaterThan(0);
    Object.assign(probe, { inFlight: 0, most: 0, delayMs: 0, failOn: -1, calls: 0, native: 0 });
  });

  const withRoot = async (fn: (fsys: InstanceType<typeof RootFs>, root: string) => Promise<void>) => {
    const root = mkdtempSync(join(tmpdir(), "podfiles-untar-commits-"));
    scratch.push(root);
    const fsys = new RootFs({ root, strategy });
    try {
      await fn(fsys, root);
    } finally {
      await fsys.close();
    }
  };
  const tempsUnder = (dir: string): string[] =>
    readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((f) => isTempName(f.slice(f.lastIndexOf("/") + 1)));

  it("fsyncs several files at once (the old extraction: one at a time), never more than WRITES_IN_FLIGHT", async () => {
    await withRoot(async (fsys, root) => {
      probe.delayMs = 5; // an fsync that takes a while, as on a disk
      const r = await fsys.extractTar("/t", tarOf(files(4 * WRITES_IN_FLIGHT)), { makeParents: true, overwrite: "fail" });
      expect(r.entries).toBe(4 * WRITES_IN_FLIGHT);
      for (let i = 0; i < 4 * WRITES_IN_FLIGHT; i++) expect(readFileSync(join(root, `t/d/f${i}`), "utf8")).toBe(`body ${i}`);
      expect(probe.most).toBeGreaterThan(1);
      // the files' fsyncs in flight, and the directory's own at the end
      expect(probe.most).toBeLessThanOrEqual(WRITES_IN_FLIGHT);
      expect(tempsUnder(join(root, "t"))).toEqual([]);
    });
  });

  it("two members with one name: the later one wins (overwrite), or the call fails with ALREADY_EXISTS (fail)", async () => {
    await withRoot(async (fsys, root) => {
      probe.delayMs = 5;
      const members = [...files(6), { name: "d/f2", body: "second" }, ...files(6, "e")];
      await fsys.extractTar("/t", tarOf(members), { makeParents: true, overwrite: "overwrite" });
      expect(readFileSync(join(root, "t/d/f2"), "utf8")).toBe("second");
      await expect(fsys.extractTar("/u", tarOf(members), { makeParents: true, overwrite: "fail" })).rejects.toMatchObject({ kind: "already-exists" });
      expect(readFileSync(join(root, "u/d/f2"), "utf8")).toBe("body 2");
      expect(tempsUnder(join(root, "u"))).toEqual([]);
    });
  });

  it("a member below a file still being committed fails as it did when that file was in place (no directory made in its stead)", async () => {
    await withRoot(async (fsys, root) => {
      probe.delayMs = 20;
      await expect(
        fsys.extractTar(
          "/t",
          tarOf([
            { name: "x", body: "a file" },
            { name: "x/y", body: "under it" },
          ]),
          { makeParents: true, overwrite: "overwrite" },
        ),
      ).rejects.toMatchObject({
        kind: "failed-precondition",
      });
      expect(readFileSync(join(root, "t/x"), "utf8")).toBe("a file");
    });
  });

  it("a hard link to a member still being committed links the committed file", async () => {
    await withRoot(async (fsys, root) => {
      probe.delayMs = 20;
      await fsys.extractTar(
        "/t",
        tarOf([
          { name: "a", body: "linked" },
          { name: "b", type: "link", linkname: "a" },
        ]),
        { makeParents: true, overwrite: "fail" },
      );
      expect(readFileSync(join(root, "t/b"), "utf8")).toBe("linked");
      expect(statSync(join(root, "t/b")).ino).toBe(statSync(join(root, "t/a")).ino);
    });
  });

  it("a failed commit fails the call; the other files are whole or absent, no temp file and no fd is left", async () => {
    await withRoot(async (fsys, root) => {
      probe.delayMs = 2;
      probe.failOn = 5;
      const fdsBefore = readdirSync("/proc/self/fd").length;
      await expect(fsys.extractTar("/t", tarOf(files(40)), { makeParents: true, overwrite: "fail" })).rejects.toThrow(/EIO|i\/o error/i);
      for (const f of readdirSync(join(root, "t/d"))) expect(readFileSync(join(root, "t/d", f), "utf8")).toBe(`body ${f.slice(1)}`);
      expect(tempsUnder(join(root, "t"))).toEqual([]);
      expect(readdirSync("/proc/self/fd").length).toBeLessThanOrEqual(fdsBefore);
    });
  });
});
