import {
  closeSync,
  constants as fsc,
  existsSync,
  fstatSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfinedRoot, PathError } from "./index.js";
import { O_PATH } from "./constants.js";
import { verifyInside } from "./walk.js";

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_NOFOLLOW, O_DIRECTORY } = fsc;

/** The error `fn` throws (fails the test when it does not throw). */
async function thrown(fn: () => unknown): Promise<NodeJS.ErrnoException> {
  try {
    await fn();
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  throw new Error("expected an error, none was thrown");
}

function fdReal(fd: number): string {
  return readlinkSync(`/proc/self/fd/${fd}`);
}

describe.each(["openat2", "walk"] as const)("ConfinedRoot (%s)", (strategy) => {
  let tmp: string; // .../podfiles-confine-XXXX (realpath)
  let rootDir: string; // tmp/root
  let outside: string; // tmp/outside, holds secret.txt
  let secret: string;
  let root: ConfinedRoot;

  const open = (): ConfinedRoot => ConfinedRoot.open(rootDir, { strategy });
  const at = (...p: string[]): string => join(rootDir, ...p);
  /** Reads `path` through the confined root; returns its content. */
  const read = async (path: string, flags = O_RDONLY): Promise<string> => {
    const fd = await root.openFile(path, flags);
    try {
      const real = fdReal(fd);
      expect(real === rootDir || real.startsWith(rootDir + "/"), `fd escaped to ${real}`).toBe(true);
      return readFileSync(fd, "utf8");
    } finally {
      closeSync(fd);
    }
  };
  const outsideUntouched = (): void => {
    expect(readdirSync(outside).sort()).toEqual(["secret.txt"]);
    expect(readdirSync(tmp).sort()).toEqual(["outside", "root"]);
  };

  beforeEach(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), "podfiles-confine-")));
    rootDir = join(tmp, "root");
    outside = join(tmp, "outside");
    secret = join(outside, "secret.txt");
    mkdirSync(rootDir);
    mkdirSync(outside);
    writeFileSync(secret, "SECRET");
    root = open();
  });
  afterEach(() => {
    root.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("uses the requested strategy and reads a plain file", async () => {
    expect(root.strategy).toBe(strategy);
    expect(root.path).toBe(rootDir);
    mkdirSync(at("a"));
    writeFileSync(at("a", "b.txt"), "B");
    expect(await read("/a/b.txt")).toBe("B");
    expect(await read("a/b.txt")).toBe("B");
    expect(await read("a//./b.txt")).toBe("B");
  });

  describe("absolute symlinks resolve inside the root", () => {
    it("to the outside file: ENOENT", async () => {
      symlinkSync(secret, at("abs"));
      expect((await thrown(() => read("abs"))).code).toBe("ENOENT");
      outsideUntouched();
    });

    it("to the outside file's path recreated in the root: that in-root file", async () => {
      symlinkSync(secret, at("abs"));
      mkdirSync(at(outside), { recursive: true });
      writeFileSync(at(secret), "IN-ROOT COPY");
      expect(await read("abs")).toBe("IN-ROOT COPY");
    });

    it("to /etc/passwd of the host: ENOENT", async () => {
      symlinkSync("/etc/passwd", at("passwd"));
      expect(existsSync("/etc/passwd")).toBe(true);
      expect((await thrown(() => read("passwd"))).code).toBe("ENOENT");
    });

    it("to / : the root itself", async () => {
      symlinkSync("/", at("slash"));
      writeFileSync(at("top.txt"), "TOP");
      expect(await read("slash/top.txt")).toBe("TOP");
      expect(await read("slash/slash/slash/top.txt")).toBe("TOP");
    });
  });

  describe("relative symlinks with .. clamp at the root", () => {
    it("../../outside/secret.txt: ENOENT", async () => {
      symlinkSync("../../outside/secret.txt", at("rel"));
      expect((await thrown(() => read("rel"))).code).toBe("ENOENT");
    });

    it("../../outside/secret.txt: the in-root /outside/secret.txt when it exists", async () => {
      symlinkSync("../../outside/secret.txt", at("rel"));
      mkdirSync(at("outside"));
      writeFileSync(at("outside", "secret.txt"), "IN-ROOT");
      expect(await read("rel")).toBe("IN-ROOT");
    });

    it("deep below the root, with more .. than levels", async () => {
      mkdirSync(at("x", "y"), { recursive: true });
      symlinkSync("../../../../../../outside/secret.txt", at("x", "y", "rel"));
      expect((await thrown(() => read("x/y/rel"))).code).toBe("ENOENT");
      mkdirSync(at("outside"));
      writeFileSync(at("outside", "secret.txt"), "IN-ROOT");
      expect(await read("x/y/rel")).toBe("IN-ROOT");
    });

    it(".. in a target is physical: relative to where the link's target is", async () => {
      mkdirSync(at("p", "q"), { recursive: true });
      writeFileSync(at("p", "here.txt"), "P");
      symlinkSync("p/q", at("toq"));
      symlinkSync("../here.txt", at("p", "q", "up"));
      expect(await read("toq/up")).toBe("P");
    });
  });

  describe("symlinks in a middle component", () => {
    it("dir -> / then dir/<host path>", async () => {
      symlinkSync("/", at("dir"));
      expect((await thrown(() => read("dir" + secret))).code).toBe("ENOENT");
      expect((await thrown(() => read("dir/etc/passwd"))).code).toBe("ENOENT");
    });

    it("dir -> ../.. then dir/outside/secret.txt", async () => {
      symlinkSync("../..", at("dir"));
      expect((await thrown(() => read("dir/outside/secret.txt"))).code).toBe("ENOENT");
      expect((await thrown(() => read("dir/root/dir/outside/secret.txt"))).code).toBe("ENOENT");
    });

    it("dir -> <tmp> (absolute, the root's parent) then dir/outside/secret.txt", async () => {
      symlinkSync(tmp, at("dir"));
      expect((await thrown(() => read("dir/outside/secret.txt"))).code).toBe("ENOENT");
    });

    it("a chain of directory links ending outside", async () => {
      mkdirSync(at("s"));
      symlinkSync("../../..", at("s", "up"));
      symlinkSync("s/up", at("l1"));
      symlinkSync("l1/../..", at("l2"));
      expect((await thrown(() => read("l2/outside/secret.txt"))).code).toBe("ENOENT");
    });

    it("a middle component that is a file: ENOTDIR", async () => {
      writeFileSync(at("f"), "F");
      expect((await thrown(() => read("f/x"))).code).toBe("ENOTDIR");
    });
  });

  describe("symlink loops: ELOOP", () => {
    it("a -> b, b -> a", async () => {
      symlinkSync("b", at("a"));
      symlinkSync("a", at("b"));
      const e = await thrown(() => read("a"));
      expect(e.code).toBe("ELOOP");
      expect(e.errno).toBe(-40);
    });

    it("self loop in a middle component", async () => {
      symlinkSync("/self", at("self"));
      expect((await thrown(() => read("self/x"))).code).toBe("ELOOP");
    });

    it("40 links are followed, 41 are not", async () => {
      writeFileSync(at("end"), "END");
      symlinkSync("end", at("l0"));
      for (let i = 1; i <= 40; i++) symlinkSync(`/l${i - 1}`, at(`l${i}`));
      expect(await read("l39")).toBe("END"); // 40 links
      expect((await thrown(() => read("l40"))).code).toBe("ELOOP"); // 41 links
    });
  });

  describe(".. in the request path clamps at the root", () => {
    it("/../../outside/secret.txt: ENOENT", async () => {
      expect((await thrown(() => read("/../../outside/secret.txt"))).code).toBe("ENOENT");
      expect((await thrown(() => read("../outside/secret.txt"))).code).toBe("ENOENT");
    });

    it("/../../outside/secret.txt: the in-root file", async () => {
      mkdirSync(at("outside"));
      writeFileSync(at("outside", "secret.txt"), "IN-ROOT");
      expect(await read("/../../outside/secret.txt")).toBe("IN-ROOT");
      expect(await read("/a/b/../../../outside/./secret.txt")).toBe("IN-ROOT");
    });

    it("the root itself: /, .. and empty", async () => {
      for (const p of ["/", "..", "", "/../.."]) {
        const fd = await root.openFile(p, O_RDONLY | O_DIRECTORY);
        expect(fdReal(fd)).toBe(rootDir);
        closeSync(fd);
      }
    });
  });

  describe("bad paths: PathError", () => {
    it.each([
      ["a NUL byte", "a\0b", "INVALID_PATH"],
      ["a path over 4096 bytes", "/" + "d/".repeat(2049), "PATH_TOO_LONG"],
      ["a component over 255 bytes", "/a/" + "x".repeat(256), "NAME_TOO_LONG"],
    ])("%s", async (_what, p, code) => {
      for (const fn of [() => root.openFile(p, O_RDONLY), () => root.openParent(p), () => ConfinedRoot.cleanPath(p)]) {
        const e = await thrown(fn);
        expect(e).toBeInstanceOf(PathError);
        expect(e.code).toBe(code);
      }
    });

    it("a 255-byte component is fine (ENOENT, not PathError)", async () => {
      const e = await thrown(() => root.openFile("x".repeat(255), O_RDONLY));
      expect(e).not.toBeInstanceOf(PathError);
      expect(e.code).toBe("ENOENT");
    });
  });

  describe("openParent", () => {
    it("a final symlink pointing out is returned as the link, never followed", async () => {
      mkdirSync(at("d"));
      symlinkSync(secret, at("d", "link"));
      const p = await root.openParent("/d/link");
      try {
        expect(p.name).toBe("link");
        expect(fdReal(p.dirFd)).toBe(at("d"));
        const path = ConfinedRoot.fdPath(p.dirFd, p.name);
        expect(lstatSync(path).isSymbolicLink()).toBe(true);
        expect(readlinkSync(path)).toBe(secret);
        expect((await thrown(() => openSync(path, O_RDONLY | O_NOFOLLOW))).code).toBe("ELOOP");
      } finally {
        p.close();
      }
      expect((await thrown(() => root.openFile("/d/link", O_RDONLY | O_NOFOLLOW))).code).toBe("ELOOP");
    });

    it("resolves middle symlinks inside the root", async () => {
      symlinkSync("/", at("dir"));
      symlinkSync("../..", at("up"));
      for (const req of ["dir/x", "up/x", "up/up/dir/x"]) {
        const p = await root.openParent(req);
        try {
          expect(p.name).toBe("x");
          expect(fdReal(p.dirFd)).toBe(rootDir);
        } finally {
          p.close();
        }
      }
      expect((await thrown(() => root.openParent("dir" + outside + "/secret.txt"))).code).toBe("ENOENT");
    });

    it("the root: name is empty and dirFd is the root", async () => {
      for (const req of ["/", "", "/.."]) {
        const p = await root.openParent(req);
        expect(p.name).toBe("");
        expect(fdReal(p.dirFd)).toBe(rootDir);
        expect(statSync(ConfinedRoot.fdPath(p.dirFd, p.name)).ino).toBe(statSync(rootDir).ino);
        p.close();
        p.close(); // idempotent
      }
    });

    it("a missing parent: ENOENT; a file as parent: ENOTDIR", async () => {
      writeFileSync(at("f"), "F");
      expect((await thrown(() => root.openParent("nope/x"))).code).toBe("ENOENT");
      expect((await thrown(() => root.openParent("f/x"))).code).toBe("ENOTDIR");
    });

    it("a directory swapped for a symlink after openParent: writes land in the original dir", async () => {
      mkdirSync(at("d"));
      const p = await root.openParent("/d/new.txt");
      try {
        renameSync(at("d"), at("d.moved"));
        symlinkSync(outside, at("d"));
        writeFileSync(ConfinedRoot.fdPath(p.dirFd, p.name), "WRITTEN");
        mkdirSync(ConfinedRoot.fdPath(p.dirFd, "sub"));
      } finally {
        p.close();
      }
      expect(readFileSync(at("d.moved", "new.txt"), "utf8")).toBe("WRITTEN");
      expect(statSync(at("d.moved", "sub")).isDirectory()).toBe(true);
      expect(readdirSync(outside)).toEqual(["secret.txt"]);
      // and a fresh resolution of the swapped path stays inside too
      expect((await thrown(() => read("/d/secret.txt"))).code).toBe("ENOENT");
    });
  });

  describe("O_CREAT", () => {
    it("creates a new file with the mode, O_EXCL then fails with EEXIST", async () => {
      const fd = await root.openFile("/new.txt", O_CREAT | O_EXCL | O_WRONLY, 0o600);
      writeFileSync(fd, "NEW");
      closeSync(fd);
      expect(readFileSync(at("new.txt"), "utf8")).toBe("NEW");
      expect(statSync(at("new.txt")).mode & 0o777).toBe(0o600);
      expect((await thrown(() => root.openFile("/new.txt", O_CREAT | O_EXCL | O_WRONLY))).code).toBe("EEXIST");
      const t = await root.openFile("/new.txt", O_WRONLY | O_TRUNC);
      closeSync(t);
      expect(readFileSync(at("new.txt"), "utf8")).toBe("");
    });

    it("through an absolute symlink pointing out: nothing is created outside", async () => {
      symlinkSync(join(outside, "created.txt"), at("evil"));
      expect((await thrown(() => root.openFile("evil", O_CREAT | O_WRONLY, 0o644))).code).toBe("ENOENT");
      // with the in-root parent present the file is created there, inside
      mkdirSync(at(outside), { recursive: true });
      closeSync(await root.openFile("evil", O_CREAT | O_WRONLY, 0o644));
      expect(existsSync(at(outside, "created.txt"))).toBe(true);
      outsideUntouched();
    });

    it("through a relative symlink pointing out: nothing is created outside", async () => {
      symlinkSync("../outside/created.txt", at("evil"));
      expect((await thrown(() => root.openFile("evil", O_CREAT | O_WRONLY, 0o644))).code).toBe("ENOENT");
      mkdirSync(at("outside"));
      closeSync(await root.openFile("evil", O_CREAT | O_RDWR, 0o644));
      expect(existsSync(at("outside", "created.txt"))).toBe(true);
      outsideUntouched();
    });

    it("through a middle symlink pointing out: nothing is created outside", async () => {
      symlinkSync(outside, at("out"));
      symlinkSync("../outside", at("out2"));
      expect((await thrown(() => root.openFile("out/created.txt", O_CREAT | O_WRONLY))).code).toBe("ENOENT");
      expect((await thrown(() => root.openFile("out2/created.txt", O_CREAT | O_WRONLY))).code).toBe("ENOENT");
      outsideUntouched();
    });

    it("O_CREAT|O_EXCL on a symlink: EEXIST, never followed", async () => {
      symlinkSync(join(outside, "created.txt"), at("evil"));
      expect((await thrown(() => root.openFile("evil", O_CREAT | O_EXCL | O_WRONLY))).code).toBe("EEXIST");
      outsideUntouched();
    });

    it("O_NOFOLLOW on a final symlink: ELOOP; O_DIRECTORY on a file: ENOTDIR", async () => {
      symlinkSync(secret, at("evil"));
      writeFileSync(at("f"), "F");
      expect((await thrown(() => root.openFile("evil", O_RDONLY | O_NOFOLLOW))).code).toBe("ELOOP");
      expect((await thrown(() => root.openFile("evil", O_CREAT | O_WRONLY | O_NOFOLLOW))).code).toBe("ELOOP");
      expect((await thrown(() => root.openFile("f", O_RDONLY | O_DIRECTORY))).code).toBe("ENOTDIR");
      outsideUntouched();
    });
  });

  it("O_PATH|O_NOFOLLOW returns the symlink itself, inside the root", async () => {
    symlinkSync(secret, at("evil"));
    const fd = await root.openFile("evil", O_PATH | O_NOFOLLOW);
    try {
      expect(fstatSync(fd).isSymbolicLink()).toBe(true);
      expect(fdReal(fd)).toBe(at("evil"));
    } finally {
      closeSync(fd);
    }
  });

  it("magic-link targets are plain paths inside the root", async () => {
    symlinkSync(`/proc/self/root${secret}`, at("magic"));
    symlinkSync(`/proc/self/fd/0`, at("fd0"));
    expect((await thrown(() => read("magic"))).code).toBe("ENOENT");
    expect((await thrown(() => read("fd0"))).code).toBe("ENOENT");
  });

  it("after close(): EBADF", async () => {
    root.close();
    expect((await thrown(() => root.openFile("x", O_RDONLY))).code).toBe("EBADF");
    expect((await thrown(() => root.openParent("x"))).code).toBe("EBADF");
    root = open(); // for afterEach
  });
});

describe("ConfinedRoot strategy selection", () => {
  it('"auto" picks openat2 on this kernel (the addon must build and load)', async () => {
    const status = ConfinedRoot.nativeStatus();
    expect(status, `openat2 addon unusable: ${status.reason}`).toEqual({ available: true, reason: undefined });
    const r = ConfinedRoot.open(tmpdir());
    try {
      expect(r.strategy).toBe("openat2");
      expect(r.fallbackReason).toBeUndefined();
    } finally {
      r.close();
    }
  });

  it('"walk" is honoured', async () => {
    const r = ConfinedRoot.open(tmpdir(), { strategy: "walk" });
    expect(r.strategy).toBe("walk");
    r.close();
  });

  it("a missing root: ENOENT", async () => {
    expect(() => ConfinedRoot.open("/nonexistent-podfiles-root")).toThrow(expect.objectContaining({ code: "ENOENT" }));
  });
});

describe("walk verification", () => {
  it("closes and rejects an fd outside the root with EXDEV", async () => {
    const tmp = realpathSync(mkdtempSync(join(tmpdir(), "podfiles-verify-")));
    try {
      mkdirSync(join(tmp, "root"));
      mkdirSync(join(tmp, "rootx"));
      writeFileSync(join(tmp, "rootx", "f"), "F");
      const rootFd = openSync(join(tmp, "root"), O_PATH | O_DIRECTORY);
      const inside = openSync(join(tmp, "root"), O_RDONLY);
      const sibling = openSync(join(tmp, "rootx", "f"), O_RDONLY); // shares the root's name as a prefix
      const rootInfo = { fd: rootFd, real: join(tmp, "root") };
      expect(verifyInside(rootInfo, inside, "/")).toBe(inside);
      expect((await thrown(() => verifyInside(rootInfo, sibling, "/f"))).code).toBe("EXDEV");
      expect((await thrown(() => fstatSync(sibling))).code).toBe("EBADF"); // closed
      closeSync(inside);
      closeSync(rootFd);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
