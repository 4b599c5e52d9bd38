// The SDK's tar helpers (src/client/tar.ts): extraction (downloadDirectory, podfiles get of a directory) refuses entries that leave the destination.
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tar from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { extractTar as extractLocal, localMemberPath, packDirectory as packLocal } from "../../src/client/tar.js";

type Item = { name: string; type?: "file" | "directory" | "symlink" | "link"; body?: string; linkname?: string; mode?: number };

async function tarOf(items: Item[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const i of items) {
    if (i.body !== undefined) pack.entry({ name: i.name, mode: i.mode }, i.body);
    else pack.entry({ name: i.name, type: i.type, linkname: i.linkname, mode: i.mode });
  }
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) parts.push(c);
  return Buffer.concat(parts);
}

async function* once(b: Buffer) {
  yield b;
}

let base: string;
let dest: string;
beforeEach(() => {
  base = fs.mkdtempSync(join(tmpdir(), "podfiles-tar-"));
  dest = join(base, "dest");
});
afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

describe("extractLocal", () => {
  it("extracts files, directories, symlinks and hard links; drops setuid bits", async () => {
    const t = await tarOf([
      { name: "d", type: "directory", mode: 0o750 },
      { name: "d/f.txt", body: "hi", mode: 0o4755 },
      { name: "l", type: "symlink", linkname: "d/f.txt" },
      { name: "h", type: "link", linkname: "d/f.txt" },
    ]);
    const r = await extractLocal(dest, once(t));
    expect(r.entries).toBe(4);
    expect(fs.readFileSync(join(dest, "d/f.txt"), "utf8")).toBe("hi");
    expect(fs.statSync(join(dest, "d/f.txt")).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(join(dest, "d")).mode & 0o777).toBe(0o750);
    expect(fs.readlinkSync(join(dest, "l"))).toBe("d/f.txt");
    expect(fs.statSync(join(dest, "h")).ino).toBe(fs.statSync(join(dest, "d/f.txt")).ino);
  });

  it.each(["../evil", "a/../../evil", "../../../../tmp/evil"])("refuses %s", async (name) => {
    await expect(extractLocal(dest, once(await tarOf([{ name, body: "x" }])))).rejects.toThrow(/leaves/);
    expect(fs.existsSync(join(base, "evil"))).toBe(false);
  });

  it("small files written while the next members arrive land as in order: modes and times kept, the last of one name wins, a member under a file fails", async () => {
    const items: Item[] = Array.from({ length: 60 }, (_, i) => ({ name: `d/f${i}`, body: `b${i}`, mode: 0o640 }));
    await extractLocal(dest, once(await tarOf([...items, { name: "d/f3", body: "again", mode: 0o600 }])));
    for (let i = 0; i < 60; i++) expect(fs.readFileSync(join(dest, `d/f${i}`), "utf8")).toBe(i === 3 ? "again" : `b${i}`);
    expect(fs.statSync(join(dest, "d/f7")).mode & 0o777).toBe(0o640);
    expect(fs.statSync(join(dest, "d/f3")).mode & 0o777).toBe(0o600);
    await expect(
      extractLocal(
        join(base, "x"),
        once(
          await tarOf([
            { name: "a", body: "file" },
            { name: "a/b", body: "under" },
          ]),
        ),
      ),
    ).rejects.toThrow(/not a directory/);
    expect(fs.readFileSync(join(base, "x/a"), "utf8")).toBe("file");
  });

  it("keeps absolute names inside the destination", async () => {
    await extractLocal(dest, once(await tarOf([{ name: "/etc/abs.txt", body: "x" }])));
    expect(fs.readFileSync(join(dest, "etc/abs.txt"), "utf8")).toBe("x");
  });

  it("refuses the symlink-then-file trick", async () => {
    const outside = join(base, "outside");
    fs.mkdirSync(outside);
    const t = await tarOf([
      { name: "esc", type: "symlink", linkname: outside },
      { name: "esc/pwned", body: "x" },
    ]);
    await expect(extractLocal(dest, once(t))).rejects.toThrow(/passes through the symlink/);
    expect(fs.existsSync(join(outside, "pwned"))).toBe(false);
  });

  it("a hard link may not point outside either", async () => {
    const t = await tarOf([{ name: "h", type: "link", linkname: "../../etc/passwd" }]);
    await expect(extractLocal(dest, once(t))).rejects.toThrow(/leaves/);
  });

  it("replaces an existing symlink with the file instead of writing through it", async () => {
    const outside = join(base, "target.txt");
    fs.writeFileSync(outside, "keep");
    fs.mkdirSync(dest);
    fs.symlinkSync(outside, join(dest, "f.txt"));
    await extractLocal(dest, once(await tarOf([{ name: "f.txt", body: "new" }])));
    expect(fs.readFileSync(outside, "utf8")).toBe("keep");
    expect(fs.lstatSync(join(dest, "f.txt")).isFile()).toBe(true);
  });

  it("a member that fails ends the extraction with its error while more of the stream is still to come", async () => {
    // a hard link to a name the archive never made fails; 4 MiB more behind it keep the feed waiting
    // for room in the extractor, which a destroyed one never gives (it hung, and the process exited
    // with the promise unsettled: `podfiles get` of a directory ended without a word)
    const archive = await tarOf([
      { name: "ok.txt", body: "ok" },
      { name: "bad", type: "link", linkname: "missing.txt" },
      { name: "big.bin", body: "x".repeat(4 * 1024 * 1024) },
    ]);
    const chunks = async function* () {
      for (let at = 0; at < archive.length; at += 16 * 1024) yield archive.subarray(at, at + 16 * 1024);
    };
    const outcome = await Promise.race([
      extractLocal(dest, chunks()).then(
        () => "resolved",
        (err: NodeJS.ErrnoException) => err.code,
      ),
      new Promise((resolve) => setTimeout(() => resolve("still running after 10 s"), 10_000).unref()),
    ]);
    expect(outcome).toBe("ENOENT");
  });

  it("localMemberPath normalises names", () => {
    expect(localMemberPath("/d", "./a/b/")).toBe("/d/a/b");
    expect(localMemberPath("/d", ".")).toBe("/d");
    expect(() => localMemberPath("/d", "..")).toThrow(/leaves/);
  });
});

describe("packLocal", () => {
  it("is deterministic (the upload's digest pass and send pass see the same bytes) and round-trips", async () => {
    const src = join(base, "src");
    fs.mkdirSync(join(src, "x/y"), { recursive: true });
    fs.writeFileSync(join(src, "x/y/z.txt"), "zz");
    fs.writeFileSync(join(src, "a.txt"), "a");
    fs.symlinkSync("a.txt", join(src, "s"));
    const collect = async () => {
      const parts: Uint8Array[] = [];
      for await (const c of packLocal(src)) parts.push(c);
      return Buffer.concat(parts);
    };
    const one = await collect();
    expect((await collect()).equals(one)).toBe(true);
    await extractLocal(dest, once(one));
    expect(fs.readFileSync(join(dest, "x/y/z.txt"), "utf8")).toBe("zz");
    expect(fs.readlinkSync(join(dest, "s"))).toBe("a.txt");
  });
});
