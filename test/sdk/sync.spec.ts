// client.sync against a real server in this process (its container is a local directory): local →
// pod, pod → local and pod → pod mirror a tree, send only what changed (size + time, or SHA-256
// with checksum), set the source's times so a second run sends nothing, delete with `delete`, change
// nothing with `dryRun`, and never write through a destination symlink.
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createPodfilesClient, type PodfilesClient, type SyncAction } from "../../src/index.js";
import { sameTime } from "../../src/client/sync.js";
import { startTestServer, type TestServer } from "../support/server.js";

let server: TestServer;
let client: PodfilesClient;
let local: string;
let n = 0;

beforeAll(async () => {
  server = await startTestServer();
  client = createPodfilesClient({ baseUrl: server.url, container: server.container });
});
afterAll(async () => {
  client.close();
  await server.close();
});
beforeEach(() => {
  local = fs.mkdtempSync(join(tmpdir(), "podfiles-sync-"));
  n++;
});

const sha = (p: string) => createHash("sha256").update(fs.readFileSync(p)).digest("hex");
const remote = (path: string) => ({ remote: { container: server.container, path } });
const inPod = (p: string) => join(server.root, p);

/** A tree: 3 directories (one empty), 20 files of assorted sizes, a hidden file, a name with a space. */
function writeTree(root: string): void {
  fs.mkdirSync(join(root, "a/b"), { recursive: true });
  fs.mkdirSync(join(root, "empty"));
  for (let i = 0; i < 20; i++) fs.writeFileSync(join(root, i % 2 ? "a" : "a/b", `f${i}.bin`), randomBytes(i * 3000));
  fs.writeFileSync(join(root, ".hidden"), "h");
  fs.writeFileSync(join(root, "with space.txt"), "s");
}

/** Every file below root, relative, with its SHA-256; directories marked. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) {
        out[r] = "dir";
        walk(join(dir, d.name), r);
      } else out[r] = d.isSymbolicLink() ? `-> ${fs.readlinkSync(join(dir, d.name))}` : sha(join(dir, d.name));
    }
  };
  walk(root, "");
  return out;
}

describe("sync", () => {
  it("local → pod: the first run sends the tree; the second sends nothing; one change sends one file", async () => {
    writeTree(local);
    const dest = `/sync${n}`;
    const first = await client.sync({ local }, remote(dest));
    expect(first).toMatchObject({ created: 22, updated: 0, deleted: 0, failed: [], skipped: [] });
    expect(first.directories).toBe(4); // the root, a, a/b, empty
    expect(snapshot(inPod(dest))).toEqual(snapshot(local));
    // the source's times went with the files
    expect(sameTime(fs.statSync(join(local, "a/f1.bin"), { bigint: true }).mtimeNs, fs.statSync(inPod(`${dest}/a/f1.bin`), { bigint: true }).mtimeNs)).toBe(
      true,
    );
    const second = await client.sync({ local }, remote(dest));
    expect(second).toMatchObject({ created: 0, updated: 0, directories: 0, unchanged: 22, bytes: 0 });

    fs.writeFileSync(join(local, "a/f3.bin"), randomBytes(9000)); // same size, new content, new time
    fs.writeFileSync(join(local, "new.txt"), "new");
    const actions: SyncAction[] = [];
    const third = await client.sync({ local }, remote(dest), { onAction: (a) => actions.push(a) });
    expect(third).toMatchObject({ created: 1, updated: 1, unchanged: 21, bytes: 9003 });
    expect(actions.map((a) => `${a.kind} ${a.path} ${a.reason}`).sort()).toEqual(["create new.txt new", "update a/f3.bin time"]);
    expect(snapshot(inPod(dest))).toEqual(snapshot(local));
  });

  it("delete removes what the source lacks (a whole subtree once); dry-run changes nothing", async () => {
    writeTree(local);
    const dest = `/sync${n}`;
    await client.sync({ local }, remote(dest));
    fs.rmSync(join(local, "a/b"), { recursive: true });
    fs.rmSync(join(local, "with space.txt"));
    const before = snapshot(inPod(dest));
    const planned: SyncAction[] = [];
    const dry = await client.sync({ local }, remote(dest), { delete: true, dryRun: true, onAction: (a) => planned.push(a) });
    expect(dry).toMatchObject({ dryRun: true, deleted: 2 });
    expect(planned.map((a) => `${a.kind} ${a.path}`).sort()).toEqual(["delete a/b", "delete with space.txt"]);
    expect(snapshot(inPod(dest))).toEqual(before);
    const kept = await client.sync({ local }, remote(dest));
    expect(kept.deleted).toBe(0);
    expect(snapshot(inPod(dest))).toEqual(before);
    const real = await client.sync({ local }, remote(dest), { delete: true });
    expect(real.deleted).toBe(2);
    expect(snapshot(inPod(dest))).toEqual(snapshot(local));
  });

  it("checksum finds a change that keeps size and time; size + time does not", async () => {
    writeTree(local);
    const dest = `/sync${n}`;
    await client.sync({ local }, remote(dest));
    const f = join(local, "a/b/f4.bin");
    const { atime, mtime } = fs.statSync(f);
    fs.writeFileSync(f, randomBytes(12000));
    fs.utimesSync(f, atime, mtime);
    expect((await client.sync({ local }, remote(dest))).updated).toBe(0);
    const r = await client.sync({ local }, remote(dest), { checksum: true });
    expect(r).toMatchObject({ updated: 1, unchanged: 21 });
    expect(sha(inPod(`${dest}/a/b/f4.bin`))).toBe(sha(f));
    expect((await client.sync({ local }, remote(dest), { checksum: true })).updated).toBe(0);
  });

  it("pod → local mirrors modes and times; pod → pod goes through Copy; second runs send nothing", async () => {
    const src = `/src${n}`;
    writeTree(inPod(src));
    fs.chmodSync(inPod(`${src}/a/f1.bin`), 0o600);
    const out = join(local, "out");
    expect((await client.sync(remote(src), { local: out })).created).toBe(22);
    expect(snapshot(out)).toEqual(snapshot(inPod(src)));
    expect(fs.statSync(join(out, "a/f1.bin")).mode & 0o777).toBe(0o600);
    expect((await client.sync(remote(src), { local: out })).unchanged).toBe(22);
    // a changed remote file over the old local one (never resumed from), and over a stale NAME.part
    fs.writeFileSync(inPod(`${src}/a/f3.bin`), randomBytes(9000));
    fs.writeFileSync(inPod(`${src}/a/f5.bin`), randomBytes(70_000));
    fs.writeFileSync(join(out, "a/f5.bin.part"), randomBytes(66_000));
    expect(await client.sync(remote(src), { local: out })).toMatchObject({ updated: 2, failed: [] });
    expect(snapshot(out)).toEqual(snapshot(inPod(src)));

    const copy = `/copy${n}`;
    expect((await client.sync(remote(src), remote(copy))).created).toBe(22);
    expect(snapshot(inPod(copy))).toEqual(snapshot(inPod(src)));
    expect((await client.sync(remote(src), remote(copy))).unchanged).toBe(22);
  });

  it("a single file syncs onto a file; onto an existing directory it fails, even with delete", async () => {
    fs.writeFileSync(join(local, "one.txt"), "one");
    fs.mkdirSync(inPod(`dir${n}`));
    fs.writeFileSync(inPod(`dir${n}/keep`), "k");
    expect((await client.sync({ local: join(local, "one.txt") }, remote(`/one${n}.txt`))).created).toBe(1);
    expect(fs.readFileSync(inPod(`one${n}.txt`), "utf8")).toBe("one");
    const r = await client.sync({ local: join(local, "one.txt") }, remote(`/dir${n}`), { delete: true });
    expect(r.failed).toHaveLength(1);
    expect(r.failed[0]!.message).toMatch(/directory where the source has a file/);
    expect(fs.readFileSync(inPod(`dir${n}/keep`), "utf8")).toBe("k");
  });

  it("never writes through a destination symlink; symlinks in the source are reported, not followed", async () => {
    const src = `/src${n}`;
    writeTree(inPod(src));
    fs.symlinkSync("/etc", inPod(`${src}/link`));
    const out = join(local, "out");
    const outside = join(local, "outside");
    fs.mkdirSync(outside);
    fs.mkdirSync(out);
    fs.symlinkSync(outside, join(out, "a")); // where the source has the directory a/
    const r = await client.sync(remote(src), { local: out });
    expect(r.skipped).toEqual([{ path: "link", reason: "a symlink (not synced)" }]);
    expect(r.failed.map((f) => f.path)).toEqual(["a"]);
    expect(fs.readdirSync(outside)).toEqual([]); // nothing went through the link
    expect(fs.existsSync(join(out, "with space.txt"))).toBe(true); // the rest was synced
    const replaced = await client.sync(remote(src), { local: out }, { delete: true });
    expect(replaced.failed).toEqual([]);
    expect(fs.lstatSync(join(out, "a")).isDirectory()).toBe(true);
    expect(fs.readdirSync(outside)).toEqual([]);
    const { link: _, ...expected } = snapshot(inPod(src));
    expect(snapshot(out)).toEqual(expected);
  });

  it("a missing source is NOT_FOUND; two local sides are refused", async () => {
    await expect(client.sync(remote("/no/such"), { local })).rejects.toMatchObject({ codeName: "NOT_FOUND" });
    await expect(client.sync({ local }, { local })).rejects.toMatchObject({ codeName: "INVALID_ARGUMENT" });
  });
});

describe("remote manifest", () => {
  it("refuses a Find answer that is not a path below the root (a local side would join it onto its own)", async () => {
    const { remoteManifest } = await import("../../src/client/sync-manifest.js");
    // a stand-in client (named so): a real server's Find cannot return such a path
    const lying = (path: string) => ({
      stat: async () => ({ type: 2 }) as never,
      find: async function* () {
        yield { entry: { path, type: 1, size: 0n, mode: 0o644 } } as never;
      },
    });
    const root = { container: { namespace: "n", pod: "p" }, path: "/data" };
    for (const bad of ["/data/../etc/passwd", "/data/a/../../x", "/data//x", "/data/./x", "/elsewhere/x"])
      await expect(remoteManifest(lying(bad), root, { checksum: false })).rejects.toMatchObject({ codeName: "INTERNAL" });
    expect([...(await remoteManifest(lying("/data/a/b"), root, { checksum: false }))!.keys()]).toEqual(["a/b"]);
  });
});

describe("sameTime", () => {
  it("within 2 ms, or the same second when the destination keeps whole seconds", () => {
    const t = 1_700_000_000_123_456_789n;
    expect(sameTime(t, t - 456_789n)).toBe(true); // a Date's milliseconds
    expect(sameTime(t, 1_700_000_000_000_000_000n)).toBe(true); // whole seconds (exec)
    expect(sameTime(t, t - 1_999_999n)).toBe(true);
    expect(sameTime(t, t + 2_000_000n)).toBe(false);
    expect(sameTime(t, 1_700_000_001_000_000_000n)).toBe(false);
    expect(sameTime(t, 1_700_000_000_500_000_000n)).toBe(false);
  });
});
