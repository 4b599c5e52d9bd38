import { createHook } from "node:async_hooks";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tar from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import { KEPT_DIRECTORIES } from "./extract-directories.js";
import { RootFs } from "./root-fs.js";
import { memberPath, paxTime } from "./tar-extract.js";

describe("paxTime", () => {
  it("reads seconds and up to nine digits of fraction; anything else is no time", () => {
    expect(paxTime("1700000000.123456789")).toEqual({ seconds: 1_700_000_000n, nanos: 123_456_789 });
    expect(paxTime("1700000000.5")).toEqual({ seconds: 1_700_000_000n, nanos: 500_000_000 });
    expect(paxTime("1700000000.1234567891234")).toEqual({ seconds: 1_700_000_000n, nanos: 123_456_789 });
    expect(paxTime("1700000000")).toEqual({ seconds: 1_700_000_000n, nanos: 0 });
    for (const bad of [undefined, "", "x", "1.2.3", "1e9", " 1", "1.", "9".repeat(16)]) expect(paxTime(bad)).toBeUndefined();
  });
});

describe("memberPath", () => {
  it("keeps members inside the target directory", () => {
    expect(memberPath("/d", "a/b")).toBe("/d/a/b");
    expect(memberPath("/d", "/abs/x")).toBe("/d/abs/x");
    expect(() => memberPath("/d", "../x")).toThrow(/leaves the target directory/);
  });
});

describe("extraction cost per file", () => {
  const scratch: string[] = [];
  afterAll(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

  async function tarOfFiles(dir: string, from: number, count: number): Promise<Buffer> {
    const pack = tar.pack();
    for (let i = from; i < from + count; i++) pack.entry({ name: `${dir}/f${i}`, mode: 0o644, mtime: new Date(1_700_000_000_000) }, `body ${i}`);
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const ch of pack as AsyncIterable<Buffer>) parts.push(ch);
    return Buffer.concat(parts);
  }

  /**
   * Filesystem requests (each a round trip through libuv's threadpool: Node's fs requests and the
   * addon's openat2) that the extraction of `archive` starts. On a loaded 2-core VM each round trip
   * cost 0.05–0.35 ms; a file paid 24 of them (an lstat of every ancestor, a mkdir -p of its
   * directory, the parent reopened from the root) besides the ones that write and fsync it.
   */
  async function requestsFor(fsys: RootFs, archive: Buffer): Promise<number> {
    let requests = 0;
    const hook = createHook({
      init(_id, type) {
        if (type.startsWith("FSREQ") || type === "openat2") requests++;
      },
    });
    hook.enable();
    try {
      await fsys.extractTar(
        "/t",
        (async function* () {
          yield archive;
        })(),
        { makeParents: true, overwrite: "fail" },
      );
    } finally {
      hook.disable();
    }
    return requests;
  }

  it("keeps at most KEPT_DIRECTORIES directories open: members spread over more, visited twice, all land and no fd stays open", async () => {
    const root = mkdtempSync(join(tmpdir(), "podfiles-untar-kept-"));
    scratch.push(root);
    const fsys = new RootFs({ root });
    try {
      const dirsCount = KEPT_DIRECTORIES + 36;
      const pack = tar.pack();
      for (const round of [0, 1]) for (let d = 0; d < dirsCount; d++) pack.entry({ name: `d${d}/f${round}` }, `${d}.${round}`);
      pack.finalize();
      const fdsBefore = readdirSync("/proc/self/fd").length;
      const r = await fsys.extractTar("/t", pack as AsyncIterable<Uint8Array>, { makeParents: true, overwrite: "fail" });
      expect(r.entries).toBe(2 * dirsCount);
      for (let d = 0; d < dirsCount; d++) for (const round of [0, 1]) expect(readFileSync(join(root, `t/d${d}/f${round}`), "utf8")).toBe(`${d}.${round}`);
      expect(readdirSync("/proc/self/fd").length).toBeLessThanOrEqual(fdsBefore);
    } finally {
      await fsys.close();
    }
  });

  it("is a bounded number of filesystem requests, the same at any depth (directories are resolved once per extraction)", async () => {
    const root = mkdtempSync(join(tmpdir(), "podfiles-untar-cost-"));
    scratch.push(root);
    const fsys = new RootFs({ root });
    try {
      const perFile: Record<string, number> = {};
      for (const dir of ["a", "b/c/d/e/f/g/h"]) {
        // the first extraction creates the directories; the second, ten times the files, shows what one more file costs
        const first = await requestsFor(fsys, await tarOfFiles(dir, 0, 5));
        const second = await requestsFor(fsys, await tarOfFiles(dir, 5, 50));
        perFile[dir] = (second - first) / 45;
      }
      console.log("requests per file", perFile);
      expect(readFileSync(join(root, "t/b/c/d/e/f/g/h/f54"), "utf8")).toBe("body 54");
      // temp create, lstat of the name, write, chmod, times, fsync, link + unlink: 8 (the directory's fsync is once per extraction)
      expect(perFile.a).toBeLessThanOrEqual(9);
      expect(perFile["b/c/d/e/f/g/h"]).toBeLessThanOrEqual(perFile.a! + 0.5);
    } finally {
      await fsys.close();
    }
  });
});
