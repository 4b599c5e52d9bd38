// Issue #10, findings 4, 8, 9c and 9d, against a real server over every protocol that can upload:
// one writer per target (a second APPEND or an overwrite of a file with an upload in flight is
// ABORTED, and an APPEND abort never truncates what it did not write); stale temp files of a killed
// server are removed lazily; setuid/setgid bits are dropped on every upload path unless the server
// allows them; names up to NAME_MAX bytes can be uploaded; chunked sessions are capped per caller.
import { appendFileSync, chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import tar from "tar-stream";
import { ArchiveFormat, OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { callInfoKey } from "../../src/server/call-info.js";
import { claimedKeys } from "../../src/fs/root/target-claims.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { random, sha256, uploadAll, type FileClient } from "../support/files.js";
import { codeAndMessage } from "../support/status.js";
import { until } from "../support/until.js";

/** Test-only identity: the x-test-user header names the caller, as the auth interceptor would. */
const identityFromHeader: Interceptor = (next) => async (req) => {
  const user = req.header.get("x-test-user");
  const info = req.contextValues.get(callInfoKey);
  if (user && info) Object.assign(info, { caller: user, anonymous: false });
  return next(req);
};

let server: TestServer;
let permissive: TestServer;
beforeAll(async () => {
  server = await startTestServer({ interceptors: [identityFromHeader] });
  permissive = await startTestServer({ uploads: { allowSetid: true } });
});
afterAll(async () => {
  await server.close();
  await permissive.close();
});

const c = () => server.container;
const json = () => server.clients.connectJson;
const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes(".podfiles-"));
const append = (offset: number) => ({ overwrite: OverwritePolicy.APPEND, offset: BigInt(offset) });

describe("one writer per target", () => {
  it("a second APPEND while one is in flight is ABORTED naming the other; its abort cannot destroy what the first committed", async () => {
    writeFileSync(join(server.root, "log.bin"), "base");
    const a = await json().beginUpload({ container: c(), path: "/log.bin", options: append(4) });
    const b = await json()
      .beginUpload({ container: c(), path: "/log.bin", options: append(4) })
      .then(
        (r) => ({ code: "ok" as const, id: r.uploadId, message: "" }),
        (e) => ({ code: ConnectError.from(e).code, id: "", message: ConnectError.from(e).rawMessage }),
      );
    await json().writeUploadChunk({ container: c(), path: "/log.bin", uploadId: a.uploadId, offset: 4n, data: Buffer.from("AAAA") });
    await json().commitUpload({ container: c(), path: "/log.bin", uploadId: a.uploadId });
    // the sequence: on the old code B was begun too, and its abort truncated the file back to "base"
    if (b.id) await json().abortUpload({ container: c(), path: "/log.bin", uploadId: b.id });
    expect(readFileSync(join(server.root, "log.bin"), "utf8")).toBe("baseAAAA");
    expect(b.code).toBe(Code.Aborted);
    expect(b.message).toContain(`upload ${a.uploadId.slice(0, 8)}`);
  });

  it("a create, an overwrite or an APPEND of a path with an upload in flight is ABORTED; after it finishes they work", async () => {
    const live = await json().beginUpload({ container: c(), path: "/busy.bin" });
    const grpc = server.clients.grpc;
    const [createCode, createMessage] = await codeAndMessage(uploadAll(grpc, c(), "/busy.bin", Buffer.from("x")));
    expect(createCode).toBe(Code.Aborted);
    expect(createMessage).toMatch(/\/busy\.bin: another upload is writing this file \(upload [0-9a-f]{8}/);
    expect((await codeAndMessage(uploadAll(grpc, c(), "/busy.bin", Buffer.from("x"), { overwrite: OverwritePolicy.OVERWRITE })))[0]).toBe(Code.Aborted);
    expect((await codeAndMessage(json().beginUpload({ container: c(), path: "/busy.bin", options: { overwrite: OverwritePolicy.OVERWRITE } })))[0]).toBe(
      Code.Aborted,
    );
    // the same file reached through another spelling of its path is the same target
    expect((await codeAndMessage(uploadAll(grpc, c(), "/./busy.bin", Buffer.from("x"))))[0]).toBe(Code.Aborted);
    await json().abortUpload({ container: c(), path: "/busy.bin", uploadId: live.uploadId });
    await uploadAll(grpc, c(), "/busy.bin", Buffer.from("now"));
    expect(readFileSync(join(server.root, "busy.bin"), "utf8")).toBe("now");

    // an APPEND in flight blocks an overwrite by the streaming Upload, through a symlinked directory too
    mkdirSync(join(server.root, "real"));
    writeFileSync(join(server.root, "real/f.bin"), "1234");
    symlinkSync("real", join(server.root, "alias"));
    const appending = await json().beginUpload({ container: c(), path: "/real/f.bin", options: append(4) });
    expect((await codeAndMessage(uploadAll(grpc, c(), "/alias/f.bin", Buffer.from("x"), { overwrite: OverwritePolicy.OVERWRITE })))[0]).toBe(Code.Aborted);
    await json().writeUploadChunk({ container: c(), path: "/real/f.bin", uploadId: appending.uploadId, offset: 4n, data: Buffer.from("56") });
    await json().commitUpload({ container: c(), path: "/real/f.bin", uploadId: appending.uploadId });
    expect(readFileSync(join(server.root, "real/f.bin"), "utf8")).toBe("123456");
  });

  it("an expired session releases its target", async () => {
    const s = await json().beginUpload({ container: c(), path: "/expiring.bin" });
    expect((await codeAndMessage(json().beginUpload({ container: c(), path: "/expiring.bin" })))[0]).toBe(Code.Aborted);
    await server.uploads.sweep(Date.now() + server.uploads.idleTimeoutMs + 1);
    const again = await json().beginUpload({ container: c(), path: "/expiring.bin" });
    expect(again.uploadId).not.toBe(s.uploadId);
    await json().abortUpload({ container: c(), path: "/expiring.bin", uploadId: again.uploadId });
  });

  it("an APPEND abort leaves the file alone when someone in the container appended meanwhile", async () => {
    const file = join(server.root, "shared.log");
    writeFileSync(file, "base");
    const s = await json().beginUpload({ container: c(), path: "/shared.log", options: append(4) });
    await json().writeUploadChunk({ container: c(), path: "/shared.log", uploadId: s.uploadId, offset: 4n, data: Buffer.from("-ours-") });
    appendFileSync(file, "-theirs-"); // a process in the container (O_APPEND)
    await json().abortUpload({ container: c(), path: "/shared.log", uploadId: s.uploadId });
    expect(readFileSync(file, "utf8")).toBe("base-ours--theirs-");
  });
});

describe("temp files a killed server left behind", () => {
  it("are removed when a writer opens in their directory once they are older than the session timeout; fresh ones stay", async () => {
    const dir = join(server.root, "stale");
    mkdirSync(dir);
    const old = ".a.txt.podfiles-0123456789ab.part";
    const fresh = ".b.txt.podfiles-abcdefabcdef.part";
    const lookalike = ".c.txt.podfiles-nothexnothex.part";
    for (const n of [old, fresh, lookalike]) writeFileSync(join(dir, n), "partial");
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(join(dir, old), hourAgo, hourAgo);
    utimesSync(join(dir, lookalike), hourAgo, hourAgo);
    await uploadAll(server.clients.grpc, c(), "/stale/new.txt", Buffer.from("new"));
    await until("the stale temp file to go", async () => (existsSync(join(dir, old)) ? undefined : true), 5_000, 50);
    expect(readdirSync(dir).sort()).toEqual([fresh, lookalike, "new.txt"].sort());
  });
});

/** The upload paths a caller has, each writing `data` to path with mode through one server. */
function uploadPaths(s: () => TestServer) {
  const ref = () => s().container;
  const chunked = async (client: FileClient, path: string, data: Buffer, options: Record<string, unknown>) => {
    const b = await client.beginUpload({ container: ref(), path, options });
    await client.writeUploadChunk({ container: ref(), path, uploadId: b.uploadId, offset: BigInt((options["offset"] as bigint | undefined) ?? 0n), data });
    await client.commitUpload({ container: ref(), path, uploadId: b.uploadId });
  };
  return {
    "Upload over gRPC": (path: string, mode: number) => uploadAll(s().clients.grpc, ref(), path, Buffer.from("#!/bin/sh\n"), { mode }),
    "Upload over Connect (h2)": (path: string, mode: number) => uploadAll(s().clients.connectH2, ref(), path, Buffer.from("#!/bin/sh\n"), { mode }),
    "BeginUpload/Commit over Connect JSON": (path: string, mode: number) => chunked(s().clients.connectJson, path, Buffer.from("#!/bin/sh\n"), { mode }),
    "APPEND (streaming)": async (path: string, mode: number) => {
      writeFileSync(join(s().root, path), "#!");
      await uploadAll(s().clients.grpc, ref(), path, Buffer.from("/bin/sh\n"), { mode, ...append(2) });
    },
    "APPEND (BeginUpload)": async (path: string, mode: number) => {
      writeFileSync(join(s().root, path), "#!");
      await chunked(s().clients.connectJson, path, Buffer.from("/bin/sh\n"), { mode, ...append(2) });
    },
    "tar entry": async (path: string, mode: number) => {
      const pack = tar.pack();
      pack.entry({ name: path.slice(1), mode }, "#!/bin/sh\n");
      pack.finalize();
      const parts: Buffer[] = [];
      for await (const ch of pack as AsyncIterable<Buffer>) parts.push(ch);
      await uploadAll(s().clients.grpc, ref(), "/", Buffer.concat(parts), { format: ArchiveFormat.TAR, overwrite: OverwritePolicy.OVERWRITE });
    },
  };
}

describe("setuid and setgid bits", () => {
  const paths = Object.entries(uploadPaths(() => server));
  it.each(paths)("are dropped by %s", async (label, upload) => {
    const path = `/suid-${label.replace(/\W+/g, "-")}`;
    await upload(path, 0o6755);
    expect(statSync(join(server.root, path)).mode & 0o7777).toBe(0o755);
  });

  it("are dropped when an overwrite would inherit them from the replaced file, and when an APPEND names no mode", async () => {
    writeFileSync(join(server.root, "was-suid"), "old");
    writeFileSync(join(server.root, "was-suid2"), "old");
    chmodSync(join(server.root, "was-suid"), 0o4755);
    chmodSync(join(server.root, "was-suid2"), 0o6750);
    await uploadAll(server.clients.grpc, c(), "/was-suid", Buffer.from("new"), { overwrite: OverwritePolicy.OVERWRITE });
    expect(statSync(join(server.root, "was-suid")).mode & 0o7777).toBe(0o755);
    await uploadAll(server.clients.grpc, c(), "/was-suid2", Buffer.from("more"), append(3));
    expect(statSync(join(server.root, "was-suid2")).mode & 0o7777).toBe(0o750);
  });

  it("are dropped from tar directory entries", async () => {
    const pack = tar.pack();
    pack.entry({ name: "sgid-dir/", type: "directory", mode: 0o2775 });
    pack.finalize();
    const parts: Buffer[] = [];
    for await (const ch of pack as AsyncIterable<Buffer>) parts.push(ch);
    await uploadAll(server.clients.grpc, c(), "/", Buffer.concat(parts), { format: ArchiveFormat.TAR });
    expect(statSync(join(server.root, "sgid-dir")).mode & 0o7777).toBe(0o775);
  });

  const allowed = Object.entries(uploadPaths(() => permissive));
  it.each(allowed)("are kept by %s when the server allows them (--allow-setid)", async (label, upload) => {
    const path = `/suid-${label.replace(/\W+/g, "-")}`;
    await upload(path, 0o6755);
    expect(statSync(join(permissive.root, path)).mode & 0o7777).toBe(0o6755);
  });
});

describe("long names", () => {
  // 255 bytes each: ASCII, 3-byte and 4-byte UTF-8 characters
  const names = ["a".repeat(255), "€".repeat(85), "😀".repeat(63) + "abc", "x" + "é".repeat(127)];
  it.each(names.map((n) => [Buffer.byteLength(n), n.slice(0, 3), n] as const))(
    "a %i-byte name (%s…) uploads, streamed and chunked",
    async (_bytes, _head, name) => {
      expect(Buffer.byteLength(name)).toBe(255);
      const dir = join(server.root, "long");
      mkdirSync(dir, { recursive: true });
      const data = random(1000);
      const r = await uploadAll(server.clients.grpc, c(), `/long/${name}`, data);
      expect(r.entry?.name).toBe(name);
      expect(sha256(readFileSync(join(dir, name)))).toBe(sha256(data));
      const b = await json().beginUpload({ container: c(), path: `/long/${name}`, options: { overwrite: OverwritePolicy.OVERWRITE } });
      expect(leftovers(dir).length).toBe(1);
      await json().abortUpload({ container: c(), path: `/long/${name}`, uploadId: b.uploadId });
      expect(leftovers(dir)).toEqual([]);
    },
  );
});

describe("chunked upload sessions per caller", () => {
  it("one caller cannot take the whole pool: RESOURCE_EXHAUSTED naming the per-caller cap, others still begin", async () => {
    const as = (user: string) => ({ headers: { "x-test-user": user } });
    const ids: string[] = [];
    mkdirSync(join(server.root, "many"));
    for (let i = 0; i < 32; i++) ids.push((await json().beginUpload({ container: c(), path: `/many/${i}` }, as("alice"))).uploadId);
    const [code, message] = await codeAndMessage(json().beginUpload({ container: c(), path: "/many/32" }, as("alice")));
    expect(code).toBe(Code.ResourceExhausted);
    expect(message).toMatch(/32 per caller/);
    expect(leftovers(join(server.root, "many")).length).toBe(32); // the refused one left no temp file
    const bob = await json().beginUpload({ container: c(), path: "/many/bob" }, as("bob"));
    await json().abortUpload({ container: c(), path: "/many/bob", uploadId: bob.uploadId }, as("bob"));
    for (let i = 0; i < ids.length; i++) await json().abortUpload({ container: c(), path: `/many/${i}`, uploadId: ids[i]! }, as("alice"));
    // released: alice may begin again
    const again = await json().beginUpload({ container: c(), path: "/many/again" }, as("alice"));
    await json().abortUpload({ container: c(), path: "/many/again", uploadId: again.uploadId }, as("alice"));
  });
});

describe("after every upload above (committed, aborted, refused, expired)", () => {
  it("no target is still claimed", () => {
    expect(claimedKeys()).toBe(0);
  });
});
