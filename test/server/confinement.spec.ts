// Confinement through the whole stack: every request below tries to leave the
// container root (a temp dir) and reach "outside", a sibling directory that
// holds a secret. None may read, write or list anything there.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import tar from "tar-stream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ArchiveFormat, OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { downloadAll, listNames, uploadAll } from "../support/files.js";

const SECRET = "host-secret-do-not-leak";

let base: string;
let root: string;
let outside: string;
let server: TestServer;

async function codeOf(p: Promise<unknown>): Promise<Code> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err).code;
  }
  throw new Error("call succeeded but was expected to fail");
}

beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "podfiles-confine-"));
  root = join(base, "root");
  outside = join(base, "outside");
  server = await startTestServer({ root: (mkdirSync(root), root) });
});
afterAll(async () => {
  await server.close();
  rmSync(base, { recursive: true, force: true });
});
beforeEach(() => {
  rmSync(outside, { recursive: true, force: true });
  mkdirSync(outside);
  writeFileSync(join(outside, "secret.txt"), SECRET);
  for (const name of readdirSync(root)) rmSync(join(root, name), { recursive: true, force: true });
});

const outsideUnchanged = () => expect(readdirSync(outside)).toEqual(["secret.txt"]);

describe.each(["grpc", "connectJson"] as const)("confinement over %s", (protocol) => {
  const client = () => server.clients[protocol];
  const c = () => server.container;

  it("an absolute symlink to a host file resolves inside the container (kube-finder's hole)", async () => {
    symlinkSync(join(outside, "secret.txt"), join(root, "abs"));
    expect(await codeOf(downloadAll(client(), c(), "/abs"))).toBe(Code.NotFound);
    expect(await codeOf(client().stat({ container: c(), path: "/abs", followSymlinks: true }))).toBe(Code.NotFound);
    // the same absolute path inside the root is what it means
    mkdirSync(join(root, outside), { recursive: true });
    writeFileSync(join(root, outside, "secret.txt"), "inside copy");
    expect((await downloadAll(client(), c(), "/abs")).data.toString()).toBe("inside copy");
  });

  it("a relative symlink with ../.. cannot climb above the root", async () => {
    symlinkSync("../../../../outside/secret.txt", join(root, "rel"));
    expect(await codeOf(downloadAll(client(), c(), "/rel"))).toBe(Code.NotFound);
  });

  it("a symlink in a middle component stays inside", async () => {
    symlinkSync(outside, join(root, "mid"));
    symlinkSync("../..", join(root, "up"));
    expect(await codeOf(downloadAll(client(), c(), "/mid/secret.txt"))).toBe(Code.NotFound);
    expect(await codeOf(downloadAll(client(), c(), "/up/outside/secret.txt"))).toBe(Code.NotFound);
    expect(await codeOf(listNames(client(), c(), "/mid"))).toBe(Code.NotFound);
  });

  it("a symlink loop is a clear FAILED_PRECONDITION", async () => {
    symlinkSync("b", join(root, "a"));
    symlinkSync("a", join(root, "b"));
    const err = await downloadAll(client(), c(), "/a").catch((e) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(Code.FailedPrecondition);
    expect((err as ConnectError).rawMessage).toMatch(/symbolic links|loop/);
  });

  it("`..` in the request path clamps at the root", async () => {
    writeFileSync(join(root, "secret.txt"), "in-root file");
    const got = await downloadAll(client(), c(), "/../../outside/../secret.txt");
    expect(got.data.toString()).toBe("in-root file");
    expect(await codeOf(downloadAll(client(), c(), "../outside/secret.txt"))).toBe(Code.NotFound);
  });

  it("a NUL byte or an over-long path is INVALID_ARGUMENT", async () => {
    expect(await codeOf(client().stat({ container: c(), path: "/etc\0/passwd" }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client().stat({ container: c(), path: "/" + "a".repeat(5000) }))).toBe(Code.InvalidArgument);
    expect(await codeOf(client().stat({ container: c(), path: "/" + "a".repeat(300) }))).toBe(Code.InvalidArgument);
  });

  it("an upload whose target is a symlink pointing out never writes outside", async () => {
    symlinkSync(join(outside, "secret.txt"), join(root, "target"));
    symlinkSync(join(outside, "new.txt"), join(root, "dangling"));
    expect(await codeOf(uploadAll(client(), c(), "/target", Buffer.from("pwned")))).toBe(Code.AlreadyExists);
    // overwrite replaces the link itself, inside the container
    await uploadAll(client(), c(), "/target", Buffer.from("replaced"), { overwrite: OverwritePolicy.OVERWRITE });
    await uploadAll(client(), c(), "/dangling", Buffer.from("x"), { overwrite: OverwritePolicy.OVERWRITE });
    // append through a symlink is refused rather than followed
    symlinkSync(join(outside, "secret.txt"), join(root, "app"));
    await expect(uploadAll(client(), c(), "/app", Buffer.from("more"), { overwrite: OverwritePolicy.APPEND, offset: BigInt(SECRET.length) })).rejects.toThrow();
    // through a symlinked directory: lands inside the root's copy of that path
    symlinkSync(outside, join(root, "dirlink"));
    mkdirSync(join(root, outside), { recursive: true });
    await uploadAll(client(), c(), "/dirlink/created.txt", Buffer.from("y"));
    expect(readFileSync(join(root, outside, "created.txt"), "utf8")).toBe("y");
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe(SECRET);
    outsideUnchanged();
    expect(readFileSync(join(root, "target"), "utf8")).toBe("replaced");
  });

  it("mkdir, rename and remove through symlinks stay inside", async () => {
    symlinkSync(outside, join(root, "out"));
    expect(await codeOf(client().makeDirectory({ container: c(), path: "/out/newdir" }))).toBe(Code.NotFound);
    writeFileSync(join(root, "f"), "f");
    expect(await codeOf(client().rename({ container: c(), path: "/f", newPath: "/out/f" }))).toBe(Code.NotFound);
    await client().remove({ container: c(), path: "/out" }); // removes the link, not its target
    expect(existsSync(join(root, "out"))).toBe(false);
    outsideUnchanged();
  });

  it("tar entries named ../x or using the symlink-then-file trick are refused", async () => {
    mkdirSync(join(root, "dest"));
    const dotdot = await makeTar([{ name: "../x", body: "escaped" }]);
    expect(await codeOf(uploadAll(client(), c(), "/dest", dotdot, { format: ArchiveFormat.TAR }))).toBe(Code.InvalidArgument);
    expect(existsSync(join(root, "x"))).toBe(false);
    const trick = await makeTar([
      { name: "link", type: "symlink", linkname: outside },
      { name: "link/secret.txt", body: "overwritten" },
    ]);
    expect(await codeOf(uploadAll(client(), c(), "/dest", trick, { format: ArchiveFormat.TAR, overwrite: OverwritePolicy.OVERWRITE }))).toBe(
      Code.InvalidArgument,
    );
    const hardlink = await makeTar([{ name: "h", type: "link", linkname: "../../outside/secret.txt" }]);
    expect(await codeOf(uploadAll(client(), c(), "/dest", hardlink, { format: ArchiveFormat.TAR }))).toBe(Code.InvalidArgument);
    expect(readFileSync(join(outside, "secret.txt"), "utf8")).toBe(SECRET);
    outsideUnchanged();
  });

  it("a directory replaced by a symlink while a download runs never yields outside data", async () => {
    mkdirSync(join(root, "tree"));
    for (let i = 0; i < 200; i++) {
      mkdirSync(join(root, "tree", `d${i}`));
      writeFileSync(join(root, "tree", `d${i}`, "secret.txt"), `inside ${i}`);
    }
    // swap directories for links to the outside while the tar streams
    let swapping = true;
    const swapper = (async () => {
      for (let i = 199; i >= 0 && swapping; i--) {
        renameSync(join(root, "tree", `d${i}`), join(root, `moved${i}`));
        symlinkSync(outside, join(root, "tree", `d${i}`));
        await new Promise((r) => setImmediate(r));
      }
    })();
    const got = await downloadAll(client(), c(), "/tree", { chunkSize: 16 * 1024 });
    swapping = false;
    await swapper;
    expect(got.data.includes(Buffer.from(SECRET))).toBe(false);
    // what did arrive is a valid tar with only in-root content
    const bodies = await readTar(got.data);
    for (const [, body] of bodies) expect(body).not.toContain(SECRET);
  });
});

type TarItem = { name: string; body?: string; type?: "file" | "symlink" | "link"; linkname?: string };

async function makeTar(items: TarItem[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const it of items) pack.entry({ name: it.name, type: it.type ?? "file", linkname: it.linkname }, it.body ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

async function readTar(data: Buffer): Promise<Map<string, string>> {
  const extract = tar.extract();
  const out = new Map<string, string>();
  const done = (async () => {
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      for await (const c of entry as AsyncIterable<Buffer>) parts.push(c);
      out.set(entry.header.name, Buffer.concat(parts).toString());
    }
  })();
  extract.end(data);
  await done;
  return out;
}
