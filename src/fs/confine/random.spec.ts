// Randomized differential test: random trees of files, directories and symlinks (absolute, relative,
// with ".."), random request paths; the kernel's openat2(RESOLVE_IN_ROOT) and the walk fallback must
// agree on every result, and nothing either of them opens may lie outside the root.
import { closeSync, constants as fsc, fstatSync, mkdirSync, mkdtempSync, readlinkSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { O_PATH } from "./constants.js";
import { ConfinedRoot } from "./index.js";

const { O_RDONLY, O_NOFOLLOW, O_DIRECTORY } = fsc;
const NAMES = ["a", "b", "c", "l", "m"];
const TREES = 40;
const REQUESTS = 120;
const BASE_SEED = Number(process.env.PODFILES_CONFINE_SEED ?? 0x5eed);

/** mulberry32: a small seeded PRNG, so a failure names a seed that reproduces it. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

type Rand = ReturnType<typeof prng>;

function randRel(r: Rand, max = 4): string {
  const parts: string[] = [];
  for (let i = 0, n = 1 + r(max); i < n; i++) {
    const k = r(10);
    parts.push(k < 2 ? ".." : k < 3 ? "." : NAMES[r(NAMES.length)]!);
  }
  return parts.join("/");
}

function randTarget(r: Rand, hostTmp: string): string {
  switch (r(7)) {
    case 0:
      return "/" + randRel(r);
    case 1:
      return hostTmp + "/" + randRel(r); // the absolute host path of the root's parent and beyond
    case 2:
      return "../".repeat(1 + r(4)) + randRel(r);
    case 3:
      return randRel(r);
    case 4:
      return ["/", "..", ".", "../..", "/.."][r(5)]!;
    case 5:
      return NAMES[r(NAMES.length)]!; // siblings: loops happen
    default:
      return hostTmp + "/root/" + randRel(r); // the root's host path, which inside the root is missing
  }
}

let fileCounter = 0;
function buildTree(r: Rand, dir: string, depth: number, hostTmp: string): void {
  for (const name of NAMES) {
    const k = r(10);
    const p = join(dir, name);
    if (k < 2) continue;
    if (k < 4) writeFileSync(p, `file ${fileCounter++}`);
    else if (k < 6 && depth < 3) {
      mkdirSync(p);
      buildTree(r, p, depth + 1, hostTmp);
    } else symlinkSync(randTarget(r, hostTmp), p);
  }
}

type Outcome = { ok: true; dev: number; ino: number; real: string; name?: string } | { ok: false; code: string };

async function outcome(fn: () => Promise<{ fd: number; name?: string; close?: () => void }>): Promise<Outcome> {
  let res: { fd: number; name?: string; close?: () => void };
  try {
    res = await fn();
  } catch (e) {
    return { ok: false, code: String((e as NodeJS.ErrnoException).code) };
  }
  try {
    const st = fstatSync(res.fd);
    return { ok: true, dev: st.dev, ino: st.ino, real: readlinkSync(`/proc/self/fd/${res.fd}`), name: res.name };
  } finally {
    if (res.close) res.close();
    else closeSync(res.fd);
  }
}

describe("randomized: openat2 and walk agree and never escape", () => {
  let base: string;
  beforeAll(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), "podfiles-fuzz-")));
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it(`${TREES} trees x ${REQUESTS} requests x 4 operations (seed ${BASE_SEED})`, async () => {
    const tally = { ok: 0, viaLink: 0, errors: {} as Record<string, number> };
    for (let t = 0; t < TREES; t++) {
      const seed = BASE_SEED + t;
      const r = prng(seed);
      const tmp = join(base, `t${t}`);
      const rootDir = join(tmp, "root");
      mkdirSync(rootDir, { recursive: true });
      buildTree(r, tmp, 1, tmp); // the world outside the root, where an escape would land
      buildTree(r, rootDir, 0, tmp);
      if (r(2) === 0) {
        // sometimes the host path of the outside world also exists inside the root
        mkdirSync(join(rootDir, tmp), { recursive: true });
        buildTree(r, join(rootDir, tmp), 1, tmp);
      }
      const kernel = ConfinedRoot.open(rootDir, { strategy: "openat2" });
      const walk = ConfinedRoot.open(rootDir, { strategy: "walk" });
      expect(kernel.strategy).toBe("openat2");
      try {
        for (let q = 0; q < REQUESTS; q++) {
          const req = (r(2) ? "/" : "") + randRel(r, 5);
          const ops: Array<[string, (root: ConfinedRoot) => Promise<{ fd: number; name?: string; close?: () => void }>]> = [
            ["O_RDONLY", async (root) => ({ fd: await root.openFile(req, O_RDONLY) })],
            ["O_PATH", async (root) => ({ fd: await root.openFile(req, O_PATH) })],
            ["O_RDONLY|O_NOFOLLOW|O_DIRECTORY", async (root) => ({ fd: await root.openFile(req, O_RDONLY | O_NOFOLLOW | O_DIRECTORY) })],
            [
              "openParent",
              async (root) => {
                const p = await root.openParent(req);
                return { fd: p.dirFd, name: p.name, close: p.close };
              },
            ],
          ];
          for (const [op, fn] of ops) {
            const a = await outcome(() => fn(kernel));
            const b = await outcome(() => fn(walk));
            const where = `seed ${seed}, ${op} ${JSON.stringify(req)}`;
            expect(b, where).toEqual(a);
            if (a.ok) {
              expect(a.real === rootDir || a.real.startsWith(rootDir + "/"), `${where} escaped to ${a.real}`).toBe(true);
              tally.ok++;
              if (op === "O_PATH" && a.real !== join(rootDir, ConfinedRoot.cleanPath(req))) tally.viaLink++;
            } else {
              tally.errors[a.code] = (tally.errors[a.code] ?? 0) + 1;
            }
          }
        }
      } finally {
        kernel.close();
        walk.close();
      }
    }
    if (process.env.PODFILES_CONFINE_TALLY) console.log(JSON.stringify(tally));
    // The test is only meaningful if it exercised symlink resolution and both kinds of outcome.
    expect(tally.ok).toBeGreaterThan(500);
    expect(tally.viaLink).toBeGreaterThan(50);
    expect(tally.errors.ENOENT).toBeGreaterThan(100);
    expect(tally.errors.ELOOP).toBeGreaterThan(0);
    expect(tally.errors.ENOTDIR).toBeGreaterThan(0);
  });
});
