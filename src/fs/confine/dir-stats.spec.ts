import { spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { pathFromWire, wireFromBytes } from "../name-bytes.js";
import { O_CLOEXEC, O_DIRECTORY, O_PATH } from "./constants.js";
import { type DirStatsEntry, openDirStats, readDirStats } from "./dir-stats.js";
import { nativeStatus } from "./native.js";

// This kernel supports openat2 and CI builds the addon: a missing readDirStats must fail here.
const binding = () => {
  const b = nativeStatus().binding;
  if (!b?.readDirStats || !b.openDirStats) throw new Error(`addon without readDirStats: ${nativeStatus().reason ?? "built before it existed"}`);
  return b as typeof b & { readDirStats: NonNullable<typeof b.readDirStats>; openDirStats: NonNullable<typeof b.openDirStats> };
};
const openFds = () => readdirSync("/proc/self/fd").length;

/** Every entry of `dir`, in as many calls as it takes with `max` per call. */
async function readAll(dir: string, max = 1024, skipHidden = false): Promise<{ entries: DirStatsEntry[]; calls: number }> {
  const fd = openSync(dir, O_DIRECTORY | O_CLOEXEC);
  try {
    const entries: DirStatsEntry[] = [];
    for (let calls = 1; ; calls++) {
      const batch = await readDirStats(binding(), fd, max, skipHidden);
      expect(batch.entries.length).toBeLessThanOrEqual(max);
      entries.push(...batch.entries);
      if (batch.done) return { entries, calls };
    }
  } finally {
    closeSync(fd);
  }
}

const byName = (entries: DirStatsEntry[]) => new Map(entries.map((e) => [e.name, e]));

describe("readDirStats", () => {
  let tmp: string;
  let server: Server | undefined;
  beforeEach(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), "podfiles-dirstats-")));
  });
  afterEach(async () => {
    if (server) await new Promise((r) => server!.close(r));
    server = undefined;
    rmSync(tmp, { recursive: true, force: true });
  });

  it("gives each entry the lstat node:fs gives it: types, modes, sizes, owners, inodes, times; symlinks are not followed", async () => {
    mkdirSync(join(tmp, "d"));
    writeFileSync(join(tmp, "d", "file"), "x".repeat(5000), { mode: 0o640 });
    mkdirSync(join(tmp, "d", "sub"), { mode: 0o750 });
    mkdirSync(join(tmp, "outside"));
    writeFileSync(join(tmp, "outside", "secret"), "SECRET".repeat(1000));
    symlinkSync(join(tmp, "outside", "secret"), join(tmp, "d", "abs-link")); // to a file outside
    symlinkSync("../outside", join(tmp, "d", "dir-link")); // to a directory outside
    symlinkSync("nowhere", join(tmp, "d", "dangling"));
    writeFileSync(join(tmp, "d", ".hidden"), "h");
    utimesSync(join(tmp, "d", "file"), new Date("1960-01-01T00:00:00.123Z"), new Date("1965-05-05T05:05:05.987Z")); // before 1970: negative ns

    const { entries } = await readAll(join(tmp, "d"));
    const got = byName(entries);
    expect([...got.keys()].sort()).toEqual([".hidden", "abs-link", "dangling", "dir-link", "file", "sub"]);
    for (const [name, e] of got) {
      const want = lstatSync(join(tmp, "d", name), { bigint: true });
      // a symlink's atime moves when the batch reads its target, after its fstatat
      const atimeNs = e.target === undefined ? want.atimeNs : e.st.atimeNs;
      expect({ name, ...e.st }).toEqual({
        name,
        mode: want.mode,
        uid: want.uid,
        gid: want.gid,
        size: want.size,
        blocks: want.blocks,
        dev: want.dev,
        ino: want.ino,
        nlink: want.nlink,
        rdev: want.rdev,
        atimeNs,
        mtimeNs: want.mtimeNs,
        ctimeNs: want.ctimeNs,
        // rounded down; Node 24's own mtimeMs rounds toward zero before 1970 (the 1965 time below)
        mtimeMs: want.mtimeNs / 1_000_000n - (want.mtimeNs % 1_000_000n < 0n ? 1n : 0n),
      });
    }
    expect(got.get("file")!.st.size).toBe(5000n);
    expect(got.get("file")!.st.mode & 0o7777n).toBe(0o640n);
    expect(got.get("file")!.target).toBeUndefined();
    expect(got.get("sub")!.st.mode & 0o170000n).toBe(0o040000n);
    // the links themselves, never what they point at
    expect(got.get("abs-link")!.st.mode & 0o170000n).toBe(0o120000n);
    expect(got.get("abs-link")!.st.size).toBe(BigInt(join(tmp, "outside", "secret").length));
    expect(got.get("abs-link")!.target).toBe(join(tmp, "outside", "secret"));
    expect(got.get("dir-link")!.target).toBe("../outside");
    expect(got.get("dangling")!.target).toBe("nowhere");
    expect(got.get("dir-link")!.st.ino).not.toBe(statSync(join(tmp, "outside"), { bigint: true }).ino);

    const visible = await readAll(join(tmp, "d"), 1024, true);
    expect(visible.entries.map((e) => e.name).sort()).toEqual(["abs-link", "dangling", "dir-link", "file", "sub"]);
  });

  it("stats a FIFO, a socket and a device node without opening them (a FIFO with no writer would block an open)", async () => {
    mkdirSync(join(tmp, "d"));
    expect(spawnSync("mkfifo", [join(tmp, "d", "fifo")]).status).toBe(0);
    server = createServer();
    await new Promise<void>((r) => server!.listen(join(tmp, "d", "sock"), r));
    // a character device where mknod is allowed (root, as in CI's container); else a FIFO and a socket only
    const device = spawnSync("mknod", [join(tmp, "d", "null-dev"), "c", "1", "3"]).status === 0;

    const started = performance.now();
    const { entries } = await readAll(join(tmp, "d"));
    expect(performance.now() - started).toBeLessThan(2000);
    const got = byName(entries);
    expect(got.get("fifo")!.st.mode & 0o170000n).toBe(0o010000n);
    expect(got.get("sock")!.st.mode & 0o170000n).toBe(0o140000n);
    if (device) {
      expect(got.get("null-dev")!.st.mode & 0o170000n).toBe(0o020000n);
      expect(got.get("null-dev")!.st.rdev).toBe(lstatSync(join(tmp, "d", "null-dev"), { bigint: true }).rdev);
    }
    expect(got.size).toBe(device ? 3 : 2);
  });

  it("returns names with newlines and invalid UTF-8 (and such symlink targets) as the API strings of their exact bytes", async () => {
    const dir = join(tmp, "d");
    mkdirSync(dir);
    const raw = [Buffer.from("line\nbreak"), Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74]), Buffer.from("ünï"), Buffer.from("back\\xff")];
    for (const b of raw) writeFileSync(Buffer.concat([Buffer.from(dir + "/"), b]), "");
    const badTarget = Buffer.from([0x74, 0x80, 0x2f, 0x0a]);
    symlinkSync(badTarget, Buffer.concat([Buffer.from(dir + "/"), Buffer.from("link\xff", "latin1")]));

    const { entries } = await readAll(dir);
    const want = [...raw, Buffer.from("link\xff", "latin1")].map(wireFromBytes).sort();
    expect(entries.map((e) => e.name).sort()).toEqual(want);
    for (const e of entries)
      expect(Buffer.from(pathFromWire(e.name))).toEqual(raw.concat(Buffer.from("link\xff", "latin1")).find((b) => wireFromBytes(b) === e.name));
    const link = entries.find((e) => e.target !== undefined)!;
    expect(Buffer.from(pathFromWire(link.target!))).toEqual(badTarget);
    expect(readlinkSync(Buffer.concat([Buffer.from(dir + "/"), Buffer.from("link\xff", "latin1")]), { encoding: "buffer" })).toEqual(badTarget);
  });

  // ext4 (htree: hash cookies as offsets) in the temp dir, and tmpfs where there is one
  for (const fsName of ["tmpdir", "tmpfs"] as const) {
    it.skipIf(fsName === "tmpfs" && !existsSync("/dev/shm"))(
      `streams a directory bigger than one batch in bounded calls, each entry once (${fsName})`,
      async () => {
        const base = fsName === "tmpfs" ? mkdtempSync("/dev/shm/podfiles-dirstats-") : tmp;
        try {
          const dir = join(base, "big");
          mkdirSync(dir);
          const n = 1500;
          for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${i}`), "");
          for (const max of [1, 7, 1000, 4096]) {
            const { entries, calls } = await readAll(dir, max);
            const names = entries.map((e) => e.name);
            expect(new Set(names).size).toBe(n);
            expect(names.length).toBe(n);
            expect(calls).toBeGreaterThanOrEqual(Math.ceil(n / max));
            expect(calls).toBeLessThanOrEqual(Math.ceil((n + 2) / max) + 1); // "." and ".." count toward a call's bound
          }
        } finally {
          if (base !== tmp) rmSync(base, { recursive: true, force: true });
        }
      },
      60_000,
    );
  }

  it("leaves out an entry removed after getdents listed it and before fstatat reached it; the batch still succeeds", async () => {
    // Entries removed once the first getdents read has finished (the directory's atime moves
    // when it has: relatime, atime set back before) and before the job stats them must be
    // skipped. Which ones the job had stat'ed already depends on timing, so: rounds until one shows it.
    const dir = join(tmp, "race");
    mkdirSync(dir);
    const n = 1000; // 8-byte names: 32-byte records, all in the first 32 KiB getdents read
    for (let i = 0; i < n; i++) writeFileSync(join(dir, `f${String(i).padStart(7, "0")}`), "");
    let skipped = 0;
    let rounds = 0;
    for (; rounds < 20 && skipped === 0; rounds++) {
      const order = readdirSync(dir); // getdents order
      const old = new Date("2000-01-01T00:00:00Z");
      utimesSync(dir, old, statSync(dir).mtime);
      const fd = openSync(dir, O_DIRECTORY | O_CLOEXEC);
      try {
        const pending = readDirStats(binding(), fd, 65536, false);
        let spins = 0;
        while (statSync(dir, { bigint: true }).atimeMs === BigInt(old.getTime()) && ++spins < 1_000_000);
        const removed = new Set<string>();
        for (let i = order.length - 1; i >= order.length / 2; i--) {
          unlinkSync(join(dir, order[i]!));
          removed.add(order[i]!);
        }
        const { entries } = await pending; // no ENOENT error
        const names = new Set(entries.map((e) => e.name));
        for (const name of order) if (!removed.has(name)) expect(names.has(name)).toBe(true);
        skipped = [...removed].filter((name) => !names.has(name)).length;
        for (const name of removed) writeFileSync(join(dir, name), "");
      } finally {
        closeSync(fd);
      }
    }
    console.log(`removed after getdents, skipped at fstatat: ${skipped} entries (round ${rounds})`);
    expect(skipped).toBeGreaterThan(0);
  });

  it("rejects with ENOTDIR for a file, EBADF for an O_PATH fd and a closed fd; bad arguments throw at once", async () => {
    writeFileSync(join(tmp, "file"), "x");
    const file = openSync(join(tmp, "file"), "r");
    const pathFd = openSync(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
    try {
      await expect(readDirStats(binding(), file, 10, false)).rejects.toMatchObject({ code: "ENOTDIR", errno: -20 });
      await expect(readDirStats(binding(), pathFd, 10, false)).rejects.toMatchObject({ code: "EBADF" });
      expect(() => binding().readDirStats(999_999, 10, false)).toThrow(expect.objectContaining({ code: "EBADF" }));
      expect(() => binding().readDirStats(file, 0, false)).toThrow(TypeError);
      expect(() => binding().readDirStats(file, 65537, false)).toThrow(TypeError);
      expect(() => (binding().readDirStats as (...a: unknown[]) => unknown)(file, 10)).toThrow(TypeError);
    } finally {
      closeSync(file);
      closeSync(pathFd);
    }
  });

  it("closing the fd while a call runs is safe: the job reads its own dup", async () => {
    mkdirSync(join(tmp, "d"));
    for (let i = 0; i < 300; i++) writeFileSync(join(tmp, "d", `f${i}`), "");
    const calls = Array.from({ length: 16 }, () => {
      const fd = openSync(join(tmp, "d"), O_DIRECTORY | O_CLOEXEC);
      const p = readDirStats(binding(), fd, 65536, false);
      closeSync(fd);
      return p;
    });
    for (const { entries, done } of await Promise.all(calls)) {
      expect(done).toBe(true);
      expect(entries.length).toBe(300);
    }
  });

  it("openDirStats opens a subdirectory by one name with its first batch, the rest read on from the fd it gives", async () => {
    mkdirSync(join(tmp, "d", "sub"), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(join(tmp, "d", "sub", `f${i}`), "");
    writeFileSync(join(tmp, "d", "sub", ".h"), "");
    const parent = openSync(join(tmp, "d"), O_PATH | O_DIRECTORY | O_CLOEXEC); // an O_PATH parent is enough
    try {
      const { fd, batch } = await openDirStats(binding(), parent, "sub", 20, true);
      try {
        expect(batch.done).toBe(false);
        expect(batch.entries.length).toBeLessThanOrEqual(20);
        const names = batch.entries.map((e) => e.name);
        for (;;) {
          const more = await readDirStats(binding(), fd, 20, true);
          names.push(...more.entries.map((e) => e.name));
          if (more.done) break;
        }
        expect(names.sort()).toEqual(Array.from({ length: 50 }, (_, i) => `f${i}`).sort());
        expect(lstatSync(`/proc/self/fd/${fd}`).isSymbolicLink()).toBe(true);
        expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(join(tmp, "d", "sub"));
      } finally {
        closeSync(fd);
      }
    } finally {
      closeSync(parent);
    }
  });

  it("openDirStats follows no symlink, opens nothing but a directory, takes one component only, and leaves nothing open on failure", async () => {
    mkdirSync(join(tmp, "d"));
    mkdirSync(join(tmp, "outside"));
    writeFileSync(join(tmp, "outside", "secret"), "S");
    symlinkSync(join(tmp, "outside"), join(tmp, "d", "link"));
    symlinkSync("..", join(tmp, "d", "up"));
    writeFileSync(join(tmp, "d", "file"), "");
    expect(spawnSync("mkfifo", [join(tmp, "d", "fifo")]).status).toBe(0);
    mkdirSync(join(tmp, "d", "sub"));
    const parent = openSync(join(tmp, "d"), O_PATH | O_DIRECTORY | O_CLOEXEC);
    const before = openFds();
    try {
      // a symlink as the name: O_NOFOLLOW | O_DIRECTORY fails (ENOTDIR: the link itself is no directory), never followed
      await expect(openDirStats(binding(), parent, "link", 10, false)).rejects.toMatchObject({ code: expect.stringMatching(/^(ELOOP|ENOTDIR)$/) });
      await expect(openDirStats(binding(), parent, "up", 10, false)).rejects.toMatchObject({ code: expect.stringMatching(/^(ELOOP|ENOTDIR)$/) });
      await expect(openDirStats(binding(), parent, "file", 10, false)).rejects.toMatchObject({ code: "ENOTDIR" });
      await expect(openDirStats(binding(), parent, "fifo", 10, false)).rejects.toMatchObject({ code: "ENOTDIR" }); // not opened: no writer needed
      await expect(openDirStats(binding(), parent, "gone", 10, false)).rejects.toMatchObject({ code: "ENOENT" });
      for (const bad of ["..", ".", "", "sub/..", "../d", "a\0b"]) {
        expect(() => binding().openDirStats(parent, bad, 10, false), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: "EINVAL" }));
      }
      expect(() => binding().openDirStats(parent, "x".repeat(300), 10, false)).toThrow(expect.objectContaining({ code: "ENAMETOOLONG" }));
      expect(openFds()).toBe(before);
    } finally {
      closeSync(parent);
    }
  });
});
