// Copy between containers, on real servers on loopback: "node-a" serves pod-a, "node-b" serves
// pod-b, and the agents forward to each other (a stand-in placement table says which node runs
// which pod, as test/server/forward.spec.ts does; on the cluster: test/e2e/copy.spec.ts). A copy
// within pod-a is written through node-a's own ContainerFs; a copy from pod-a to pod-b is an
// Upload stream from node-a to node-b. The SDK's copy() drives both.
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, type Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileType, OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { createPodfilesClient, type PodfilesClient } from "../../src/index.js";
import { unauthenticated } from "../../src/errors.js";
import type { ContainerName } from "../../src/resolve/resolver.js";
import type { Peer } from "../../src/server/forward/forward-call.js";
import { random, sha256 } from "../support/files.js";
import { startTestServer, type TestServer } from "../support/server.js";

/** The status code and message a call failed with (SDK errors are PodfilesErrors), or ["ok", ""]. */
async function codeAndMessage(p: Promise<unknown>): Promise<[Code | "ok", string]> {
  try {
    await p;
    return ["ok", ""];
  } catch (err) {
    const e = err as { code: Code; rawMessage: string };
    return [e.code, e.rawMessage];
  }
}

const MiB = 1024 * 1024;
const podA = { namespace: "ns", pod: "pod-a", container: "c" };
const podB = { namespace: "other-ns", pod: "pod-b", container: "c" };
const AGENT_TOKEN = "Bearer agent-token";

/** Slows every Upload data message node-b receives while `slow.ms` > 0 (a destination on a slow link). */
const slow = { ms: 0 };
const slowUploadsOnB: Interceptor = (next) => async (req) => {
  if (req.method.name !== "Upload" || !req.stream) return next(req);
  const messages = req.message;
  async function* delayed() {
    for await (const m of messages) {
      if (slow.ms) await new Promise((r) => setTimeout(r, slow.ms));
      yield m;
    }
  }
  return next({ ...req, message: delayed() } as typeof req);
};

function placement(self: string, agents: Map<string, string>) {
  return async (name: ContainerName): Promise<Peer | undefined> => {
    const node = name.pod === "pod-a" ? "node-a" : name.pod === "pod-b" ? "node-b" : undefined;
    if (!node || node === self) return undefined;
    return { node, address: agents.get(node)! };
  };
}

let a: TestServer;
let b: TestServer;
let sdk: PodfilesClient;
const agents = new Map<string, string>();

beforeAll(async () => {
  b = await startTestServer({
    name: podB,
    forward: { self: "node-b", locate: placement("node-b", agents) },
    forwarded: {
      verifyAgent: async (c) => {
        if (c !== AGENT_TOKEN) throw unauthenticated("forwarded call without a valid agent credential");
      },
    },
    interceptors: [slowUploadsOnB],
  });
  a = await startTestServer({ name: podA, forward: { self: "node-a", locate: placement("node-a", agents), agentCredential: () => AGENT_TOKEN } });
  agents.set("node-a", new URL(a.url).host);
  agents.set("node-b", new URL(b.url).host);
  sdk = createPodfilesClient({ baseUrl: a.url, container: podA });
}, 30_000);
afterAll(async () => {
  await a?.close();
  await b?.close();
});

/** Names in a directory tree (relative, sorted) with each file's SHA-256 and each symlink's target. */
function treeOf(dir: string, prefix = ""): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = `${prefix}${name}`;
      if (st.isSymbolicLink()) return [`${rel} -> ${readlinkSync(p)}`];
      if (st.isDirectory()) return [`${rel}/`, ...treeOf(p, `${rel}/`)];
      return [`${rel} ${sha256(readFileSync(p))} ${(st.mode & 0o777).toString(8)}`];
    });
}

function makeTree(root: string, files: number): void {
  mkdirSync(join(root, "deep/er/still"), { recursive: true });
  for (let i = 0; i < files; i++) writeFileSync(join(root, i % 3 ? "deep/er" : "", `f${i}.bin`), random(1000 + i * 37), { mode: i % 2 ? 0o600 : 0o644 });
  writeFileSync(join(root, "deep/er/still/name with spaces ünï.txt"), "x");
  symlinkSync("deep/er/f1.bin", join(root, "link"));
}

/** Temp names an upload or a tree extraction uses (`.NAME.podfiles-HEX.part`), anywhere in the tree. */
const leftovers = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((n) => /\.podfiles-[0-9a-f]{12}\.part/.test(n)) : [];

describe("Copy within one agent (the destination's ContainerFs directly)", () => {
  it("a file: the bytes, the digest the destination computed, the entry", async () => {
    const data = random(5 * MiB + 3);
    writeFileSync(join(a.root, "src.bin"), data);
    const progress: number[] = [];
    const r = await sdk.copy("/src.bin", "/copy.bin", { onProgress: (p) => progress.push(p.bytes) });
    expect(readFileSync(join(a.root, "copy.bin")).equals(data)).toBe(true);
    expect(r).toMatchObject({ bytes: data.length, digest: sha256(data), digestAlgorithm: "sha256" });
    expect(r.entry?.path).toBe("/copy.bin");
    expect(r.entry?.size).toBe(BigInt(data.length));
    expect(progress.at(-1)).toBe(data.length);
  });

  it("a tree: every file, directory, mode and symlink; the destination directory is created", async () => {
    makeTree(join(a.root, "tree"), 40);
    const r = await sdk.copy("/tree", "/tree-copy");
    expect(treeOf(join(a.root, "tree-copy"))).toEqual(treeOf(join(a.root, "tree")));
    expect(r.entry?.type).toBe(FileType.DIRECTORY);
    expect(r.entries).toBeGreaterThanOrEqual(40);
    expect(leftovers(a.root)).toEqual([]);
  });

  it("refuses, with a status that says why: same path, into itself, onto a file, over an existing file, a missing parent", async () => {
    writeFileSync(join(a.root, "one.txt"), "one");
    writeFileSync(join(a.root, "two.txt"), "two");
    mkdirSync(join(a.root, "dir"), { recursive: true });
    const code = (p: Promise<unknown>) => codeAndMessage(p);
    expect(await code(sdk.copy("/one.txt", "/./one.txt"))).toEqual([Code.InvalidArgument, "/one.txt: source and destination are the same file"]);
    expect(await code(sdk.copy("/dir", "/dir/sub"))).toEqual([Code.InvalidArgument, "/dir/sub: a directory cannot be copied into itself (/dir)"]);
    expect((await code(sdk.copy("/dir", "/two.txt")))[0]).toBe(Code.FailedPrecondition);
    expect((await code(sdk.copy("/one.txt", "/dir")))[0]).toBe(Code.FailedPrecondition);
    expect(await code(sdk.copy("/one.txt", "/two.txt"))).toEqual([Code.AlreadyExists, "/two.txt: already exists (ask for overwrite to replace it)"]);
    expect(readFileSync(join(a.root, "two.txt"), "utf8")).toBe("two");
    expect(await code(sdk.copy("/one.txt", "/no/such/dir/x"))).toEqual([
      Code.NotFound,
      "/no/such/dir: the destination's parent directory does not exist (set make_parents to create it)",
    ]);
    expect((await code(sdk.copy("/missing", "/x")))[0]).toBe(Code.NotFound);
    // the raw RPC: no destination at all, and append
    const noDest = a.clients.grpc.copy({ container: podA, path: "/one.txt", destinationPath: "/x" });
    expect(await code(drain(noDest))).toEqual([Code.InvalidArgument, "destination is required: the container to copy to"]);
    const append = a.clients.grpc.copy({
      container: podA,
      path: "/one.txt",
      destination: podA,
      destinationPath: "/y",
      options: { overwrite: OverwritePolicy.APPEND },
    });
    expect((await code(drain(append)))[0]).toBe(Code.InvalidArgument);
    // overwrite and make_parents when asked
    await sdk.copy("/one.txt", "/two.txt", { overwrite: "overwrite" });
    expect(readFileSync(join(a.root, "two.txt"), "utf8")).toBe("one");
    await sdk.copy("/one.txt", "/made/for/it.txt", { makeParents: true });
    expect(readFileSync(join(a.root, "made/for/it.txt"), "utf8")).toBe("one");
  });
});

describe("Copy within one agent, cancelled", () => {
  it.each(["file", "tree"] as const)("a cancelled copy (%s) leaves nothing at the destination", async (kind) => {
    const src = `/local-cancel-${kind}`;
    // 64 MiB: far more than 50 ms of writing and fsync on this machine
    if (kind === "file") writeFileSync(join(a.root, src), random(64 * MiB));
    else {
      mkdirSync(join(a.root, src));
      for (let i = 0; i < 64; i++) writeFileSync(join(a.root, src, `f${i}`), random(MiB));
    }
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    expect((await codeAndMessage(sdk.copy(src, `${src}-copy`, { signal: stop.signal })))[0]).toBe(Code.Canceled);
    for (let i = 0; i < 50 && leftovers(a.root).length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(a.root, `${src}-copy`))).toBe(false);
    expect(leftovers(a.root)).toEqual([]);
  });
});

async function drain(it: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const m of it) out.push(m);
  return out;
}

describe("Copy to a container another agent serves (an Upload stream node-a → node-b)", () => {
  it("a file, into another namespace: node-b has it, node-a does not; the digest is node-b's", async () => {
    const data = random(9 * MiB + 11);
    writeFileSync(join(a.root, "big.bin"), data);
    const r = await sdk.copy("/big.bin", { container: podB, path: "/big.bin" });
    expect(sha256(readFileSync(join(b.root, "big.bin")))).toBe(sha256(data));
    expect(r.digest).toBe(sha256(data));
    expect(r.entry?.path).toBe("/big.bin");
  });

  it("a tree", async () => {
    makeTree(join(a.root, "tree-b"), 60);
    const r = await sdk.copy("/tree-b", { container: podB, path: "/landed/tree" }, { makeParents: true });
    expect(treeOf(join(b.root, "landed/tree"))).toEqual(treeOf(join(a.root, "tree-b")));
    expect(r.entries).toBeGreaterThanOrEqual(60);
    expect(leftovers(b.root)).toEqual([]);
  });

  it("overwrite refused at the destination: ALREADY_EXISTS, its file untouched", async () => {
    writeFileSync(join(a.root, "mine.txt"), "from a");
    writeFileSync(join(b.root, "theirs.txt"), "from b");
    expect((await codeAndMessage(sdk.copy("/mine.txt", { container: podB, path: "/theirs.txt" })))[0]).toBe(Code.AlreadyExists);
    expect(readFileSync(join(b.root, "theirs.txt"), "utf8")).toBe("from b");
  });

  it("progress about once a second while bytes move, then the result", async () => {
    writeFileSync(join(a.root, "slow.bin"), random(24 * MiB));
    slow.ms = 100; // 24 chunks of 1 MiB: ≥ 2.4 s at node-b
    try {
      const messages = await drain(a.clients.grpc.copy({ container: podA, path: "/slow.bin", destination: podB, destinationPath: "/slow.bin" }));
      const kinds = messages.map((m) => (m as { part: { case: string } }).part.case);
      expect(kinds.at(-1)).toBe("result");
      expect(kinds.filter((k) => k === "progress").length).toBeGreaterThanOrEqual(2);
      const p = (messages[0] as { part: { value: { bytesCopied: bigint; totalBytes?: bigint } } }).part.value;
      expect(p.totalBytes).toBe(BigInt(24 * MiB));
      expect(p.bytesCopied).toBeGreaterThan(0n);
    } finally {
      slow.ms = 0;
    }
  });

  it.each(["file", "tree"] as const)("a cancelled copy (%s) leaves nothing at the destination", async (kind) => {
    const src = `/cancel-${kind}`;
    if (kind === "file") writeFileSync(join(a.root, src), random(32 * MiB));
    else {
      mkdirSync(join(a.root, src));
      for (let i = 0; i < 32; i++) writeFileSync(join(a.root, src, `f${i}`), random(MiB));
    }
    slow.ms = 100;
    try {
      const stop = new AbortController();
      let progressed = 0;
      const copying = sdk.copy(src, { container: podB, path: src }, { signal: stop.signal, onProgress: () => void (progressed++, stop.abort()) });
      expect((await codeAndMessage(copying))[0]).toBe(Code.Canceled);
      expect(progressed).toBe(1);
    } finally {
      slow.ms = 0;
    }
    // node-b learns of the cancel from its request stream: give it a moment to remove its temp file
    for (let i = 0; i < 50 && leftovers(b.root).length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(existsSync(join(b.root, src))).toBe(false);
    expect(leftovers(b.root)).toEqual([]);
  });

  it("a node-b that refuses node-a's agent credential: UNAUTHENTICATED, nothing written", async () => {
    writeFileSync(join(a.root, "cred.txt"), "x");
    const wrong = await startTestServer({
      name: podA,
      forward: { self: "node-a", locate: placement("node-a", agents), agentCredential: () => "Bearer wrong" },
    });
    try {
      const client = createPodfilesClient({ baseUrl: wrong.url, container: podA });
      writeFileSync(join(wrong.root, "cred.txt"), "x");
      expect((await codeAndMessage(client.copy("/cred.txt", { container: podB, path: "/cred.txt" })))[0]).toBe(Code.Unauthenticated);
      expect(existsSync(join(b.root, "cred.txt"))).toBe(false);
    } finally {
      await wrong.close();
    }
  });
});
