import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  openSync,
  realpathSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { O_CLOEXEC, O_DIRECTORY, O_PATH, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS } from "./constants.js";
import { nativeStatus } from "./native.js";

// This kernel (6.18) supports openat2: a missing or broken addon must fail here, loudly.
describe("openat2 addon", () => {
  let tmp: string;
  beforeEach(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), "podfiles-native-")));
    mkdirSync(join(tmp, "root"));
    mkdirSync(join(tmp, "outside"));
    writeFileSync(join(tmp, "outside", "secret.txt"), "SECRET");
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it("loads and reports kernel support", () => {
    const s = nativeStatus();
    expect(s.reason).toBeUndefined();
    expect(s.binding).toBeDefined();
    expect(s.binding!.supported()).toBe(true);
  });

  it("opens inside the root and throws errno-coded errors for escapes", () => {
    const b = nativeStatus().binding!;
    symlinkSync(join(tmp, "outside", "secret.txt"), join(tmp, "root", "abs"));
    writeFileSync(join(tmp, "root", "in.txt"), "IN");
    const root = openSync(join(tmp, "root"), O_PATH | O_DIRECTORY);
    try {
      const fd = b.openat2(root, "../../in.txt", 0 | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(join(tmp, "root", "in.txt"));
      closeSync(fd);
      let err: NodeJS.ErrnoException | undefined;
      try {
        b.openat2(root, "abs", O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      } catch (e) {
        err = e as NodeJS.ErrnoException;
      }
      expect(err).toBeInstanceOf(Error);
      expect(err!.code).toBe("ENOENT");
      expect(err!.errno).toBe(-2);
      // Without RESOLVE_IN_ROOT the same call escapes: proves the flag is what confines.
      const esc = b.openat2(root, "abs", O_CLOEXEC, 0, 0);
      expect(readlinkSync(`/proc/self/fd/${esc}`)).toBe(join(tmp, "outside", "secret.txt"));
      closeSync(esc);
      expect(() => b.openat2(root, "a\0b", O_CLOEXEC, 0, RESOLVE_IN_ROOT)).toThrow(expect.objectContaining({ code: "EINVAL" }));
      // openat2 rejects a mode without O_CREAT: callers must pass 0.
      expect(() => b.openat2(root, "in.txt", O_CLOEXEC, 0o644, RESOLVE_IN_ROOT)).toThrow(expect.objectContaining({ code: "EINVAL" }));
    } finally {
      closeSync(root);
    }
  });

  it("openat2Async: the same call on the threadpool, resolving to an fd or rejecting with an errno-coded error", async () => {
    const b = nativeStatus().binding!;
    symlinkSync(join(tmp, "outside", "secret.txt"), join(tmp, "root", "abs"));
    writeFileSync(join(tmp, "root", "in.txt"), "IN");
    const root = openSync(join(tmp, "root"), O_PATH | O_DIRECTORY);
    try {
      const pending = b.openat2Async(root, "../../in.txt", O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
      expect(pending).toBeInstanceOf(Promise);
      const fd = await pending;
      expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe(join(tmp, "root", "in.txt"));
      closeSync(fd);
      await expect(b.openat2Async(root, "abs", O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)).rejects.toMatchObject({ code: "ENOENT", errno: -2 });
      await expect(b.openat2Async(root, "in.txt", O_CLOEXEC, 0o644, RESOLVE_IN_ROOT)).rejects.toMatchObject({ code: "EINVAL" });
      expect(() => b.openat2Async(root, "a\0b", O_CLOEXEC, 0, RESOLVE_IN_ROOT)).toThrow(expect.objectContaining({ code: "EINVAL" }));
      expect(() => b.openat2Async(root, "x".repeat(5000), O_CLOEXEC, 0, RESOLVE_IN_ROOT)).toThrow(expect.objectContaining({ code: "ENAMETOOLONG" }));
      // many at once: each settles once, with its own fd
      const fds = await Promise.all(Array.from({ length: 64 }, () => b.openat2Async(root, "in.txt", O_CLOEXEC, 0, RESOLVE_IN_ROOT)));
      expect(new Set(fds).size).toBe(64);
      for (const f of fds) closeSync(f);
    } finally {
      closeSync(root);
    }
  });
});

describe("commitFile", () => {
  let tmp: string;
  let dirFd: number;
  const b = () => nativeStatus().binding!;
  beforeEach(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), "podfiles-commit-")));
    dirFd = openSync(tmp, O_PATH | O_DIRECTORY);
  });
  afterEach(() => {
    closeSync(dirFd);
    rmSync(tmp, { recursive: true, force: true });
  });
  const temp = (body: string) => {
    writeFileSync(join(tmp, ".t"), body, { mode: 0o600 });
    return openSync(join(tmp, ".t"), "r+");
  };

  it("sets owner, mode and both times to the nanosecond, then the temp file takes the name", async () => {
    const fd = temp("data");
    try {
      // root here (CI too): chown to other ids is allowed; the setgid bit survives because the mode comes after the owner
      await b().commitFile!(fd, 1234, 5678, 0o2750, 1_700_000_000n, 123_456_789, dirFd, ".t", "final", true);
    } finally {
      closeSync(fd);
    }
    const st = statSync(join(tmp, "final"), { bigint: true });
    expect(readFileSync(join(tmp, "final"), "utf8")).toBe("data");
    expect([Number(st.uid), Number(st.gid), Number(st.mode) & 0o7777]).toEqual([1234, 5678, 0o2750]);
    expect(st.mtimeNs).toBe(1_700_000_000_123_456_789n);
    expect(st.atimeNs).toBe(1_700_000_000_123_456_789n);
    expect(existsSync(join(tmp, ".t"))).toBe(false);
  });

  it("ids of -1 and nanos < 0 leave owner and times as they are", async () => {
    const fd = temp("x");
    const before = statSync(join(tmp, ".t"), { bigint: true });
    try {
      await b().commitFile!(fd, -1, -1, 0o640, 0n, -1, dirFd, ".t", "final", false);
    } finally {
      closeSync(fd);
    }
    const st = statSync(join(tmp, "final"), { bigint: true });
    expect([st.uid, st.gid, st.mtimeNs, Number(st.mode) & 0o7777]).toEqual([before.uid, before.gid, before.mtimeNs, 0o640]);
  });

  it("noReplace: an existing name fails with EEXIST from renameat2, both files untouched; without it the name is replaced", async () => {
    writeFileSync(join(tmp, "final"), "old");
    const fd = temp("new");
    try {
      const err = await b().commitFile!(fd, -1, -1, 0o644, 0n, -1, dirFd, ".t", "final", true).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      );
      expect([err?.code, err?.syscall]).toEqual(["EEXIST", "renameat2"]);
      expect(readFileSync(join(tmp, "final"), "utf8")).toBe("old");
      expect(readFileSync(join(tmp, ".t"), "utf8")).toBe("new");
      await b().commitFile!(fd, -1, -1, 0o644, 0n, -1, dirFd, ".t", "final", false);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(join(tmp, "final"), "utf8")).toBe("new");
  });

  it("a failed step stops the chain and is named: fchmod on an O_PATH fd fails (EBADF), nothing is renamed", async () => {
    writeFileSync(join(tmp, ".t"), "x");
    const fd = openSync(join(tmp, ".t"), O_PATH);
    try {
      const err = await b().commitFile!(fd, -1, -1, 0o644, 0n, -1, dirFd, ".t", "final", true).then(
        () => undefined,
        (e: NodeJS.ErrnoException) => e,
      );
      expect([err?.code, err?.syscall]).toEqual(["EBADF", "fchmod"]);
    } finally {
      closeSync(fd);
    }
    expect(existsSync(join(tmp, "final"))).toBe(false);
    expect(existsSync(join(tmp, ".t"))).toBe(true);
  });

  it("works on its own dups: the caller's fds closed right after the call, the commit still lands; a bad fd throws at the call", async () => {
    const fd = temp("kept");
    const dir = openSync(tmp, O_PATH | O_DIRECTORY);
    const done = b().commitFile!(fd, -1, -1, 0o640, 0n, -1, dir, ".t", "final", true);
    closeSync(fd);
    closeSync(dir);
    await done;
    expect(readFileSync(join(tmp, "final"), "utf8")).toBe("kept");
    expect(statSync(join(tmp, "final")).mode & 0o777).toBe(0o640);
    expect(() => b().commitFile!(999_999, -1, -1, 0o644, 0n, -1, dirFd, ".t", "x", true)).toThrow(/bad file descriptor/i);
  });

  it("refuses names that are not single components, before anything runs", () => {
    for (const [from, to] of [
      ["a/b", "c"],
      [".t", "../x"],
      ["..", "x"],
      [".t", ""],
      [".t", "."],
    ]) {
      expect(() => b().commitFile!(0, -1, -1, 0o644, 0n, -1, dirFd, from!, to!, true), `${from} → ${to}`).toThrow(/invalid argument/i);
    }
  });
});

describe("without a loadable addon", () => {
  afterEach(() => {
    delete process.env.PODFILES_OPENAT2_ADDON;
    vi.resetModules();
  });

  it('"auto" falls back to the walk and says why; "openat2" refuses', async () => {
    process.env.PODFILES_OPENAT2_ADDON = join(tmpdir(), "podfiles-no-such-addon.node");
    vi.resetModules();
    const { ConfinedRoot } = await import("./index.js");
    const r = ConfinedRoot.open(tmpdir());
    try {
      expect(r.strategy).toBe("walk");
      expect(r.fallbackReason).toMatch(/addon failed to load/);
      expect(ConfinedRoot.nativeStatus().available).toBe(false);
    } finally {
      r.close();
    }
    expect(() => ConfinedRoot.open(tmpdir(), { strategy: "openat2" })).toThrow(/openat2 strategy unavailable/);
  });
});
