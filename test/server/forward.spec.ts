// Agents forwarding to each other, without a cluster: two real podfiles servers on loopback,
// "node-a" and "node-b", each serving its own directory as one pod. Where a pod runs and which
// agent serves a node is answered by a stand-in placement (a table; on a cluster it is the pod's
// spec.nodeName and the DaemonSet's pods, test/e2e/forward.spec.ts). Every call for pod-b goes
// to node-a's server and must come back exactly as node-b answers it.
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, existsSync, ftruncateSync, mkdirSync, writeFileSync } from "node:fs";
import * as http2 from "node:http2";
import { join } from "node:path";
import { Code, type Interceptor } from "@connectrpc/connect";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveFormat, FileType } from "../../gen/ts/podfiles/v1/files_pb.js";
import { failedPrecondition, notFound, permissionDenied, unauthenticated } from "../../src/errors.js";
import type { ContainerName } from "../../src/resolve/resolver.js";
import { peerOf } from "../../src/server/request-state.js";
import { startTestServer, fileClients, type TestServer } from "../support/server.js";
import { downloadAll, hex, listNames, random, sha256, uploadAll } from "../support/files.js";
import { codeAndMessage } from "../support/status.js";
import type { Peer } from "../../src/server/forward/forward-call.js";

const MiB = 1024 * 1024;
const podA = { namespace: "ns", pod: "pod-a", container: "c" };
const podB = { namespace: "ns", pod: "pod-b", container: "c" };

/** Stand-in placement: pod → node by a table, node → agent address by a table (a cluster reads both from the API server). */
class StandInPlacement {
  readonly nodes = new Map<string, string>([
    ["pod-a", "node-a"],
    ["pod-b", "node-b"],
  ]);
  readonly agents = new Map<string, string>();
  lookups = 0;
  constructor(private readonly self: string) {}
  locate = async (name: ContainerName): Promise<Peer | undefined> => {
    this.lookups++;
    const node = this.nodes.get(name.pod);
    if (!node || node === this.self) return undefined;
    const address = this.agents.get(node);
    if (!address) throw failedPrecondition(`no ready podfiles agent on node ${node}`);
    return { node, address };
  };
}

const AGENT_TOKEN = "Bearer agent-a-token";
let a: TestServer;
let b: TestServer;
const placeA = new StandInPlacement("node-a");
const placeB = new StandInPlacement("node-b");
/** What node-b's handlers saw of each call (its own interceptor, after the forwarding). */
const seenByB: { method: string; peer: string; timeout: string | null; authorization: string | null }[] = [];
const recordOnB: Interceptor = (next) => async (req) => {
  seenByB.push({
    method: req.method.name,
    peer: peerOf(req.contextValues),
    timeout: req.header.get("grpc-timeout") ?? req.header.get("connect-timeout-ms"),
    authorization: req.header.get("authorization"),
  });
  // the deadline test's call: waits for the call's own deadline (or 3 s)
  if (req.header.get("x-test-wait") === "1") {
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 3000);
      req.signal.addEventListener("abort", () => (clearTimeout(t), resolve(undefined)));
    });
    req.signal.throwIfAborted();
  }
  return next(req);
};

beforeAll(async () => {
  b = await startTestServer({
    name: podB,
    forward: { self: "node-b", locate: placeB.locate },
    forwarded: {
      verifyAgent: async (c) => {
        if (c !== AGENT_TOKEN) throw unauthenticated("forwarded call without a valid agent credential");
      },
    },
    interceptors: [recordOnB],
  });
  a = await startTestServer({ name: podA, forward: { self: "node-a", locate: placeA.locate, agentCredential: () => AGENT_TOKEN } });
  placeA.agents.set("node-b", new URL(b.url).host);
  placeB.agents.set("node-a", new URL(a.url).host);
}, 30_000);
afterAll(async () => {
  await a?.close();
  await b?.close();
});

const protocols = ["grpc", "connectJson", "connectBinaryH1", "connectH2", "grpcWeb"] as const;

describe.each(protocols)("every RPC for pod-b through node-a over %s", (protocol) => {
  it("ListFiles, Stat, Download (file and tar), Upload, chunked upload, MakeDirectory, Rename, Remove", async () => {
    const client = a.clients[protocol];
    const dir = `/fw-${protocol}`;
    await client.makeDirectory({ container: podB, path: dir });
    expect(existsSync(join(b.root, dir))).toBe(true);
    expect(existsSync(join(a.root, dir))).toBe(false);

    const data = random(3 * MiB + 7);
    const up = await uploadAll(client, podB, `${dir}/up.bin`, data);
    expect(hex(up.sha256)).toBe(sha256(data));
    expect(sha256(readFileSync(join(b.root, dir, "up.bin")))).toBe(sha256(data));

    const down = await downloadAll(client, podB, `${dir}/up.bin`);
    expect(sha256(down.data)).toBe(sha256(data));
    expect(hex(down.trailer?.sha256)).toBe(sha256(data));

    const st = await client.stat({ container: podB, path: `${dir}/up.bin` });
    expect(st.entry?.size).toBe(BigInt(data.length));
    expect(st.entry?.type).toBe(FileType.REGULAR);

    // chunked upload: every chunk names pod-b, so every one reaches the same agent
    const chunk = random(1 * MiB + 3);
    const path = `${dir}/chunked.bin`;
    const begin = await client.beginUpload({ container: podB, path });
    await client.writeUploadChunk({ container: podB, path, uploadId: begin.uploadId, offset: 0n, data: chunk });
    const q = await client.queryUpload({ container: podB, path, uploadId: begin.uploadId });
    expect(q.committedSize).toBe(BigInt(chunk.length));
    await client.writeUploadChunk({ container: podB, path, uploadId: begin.uploadId, offset: BigInt(chunk.length), data: chunk });
    await client.commitUpload({ container: podB, path, uploadId: begin.uploadId });
    expect(sha256(readFileSync(join(b.root, dir, "chunked.bin")))).toBe(sha256(Buffer.concat([chunk, chunk])));

    expect(await listNames(client, podB, dir)).toEqual([`${dir}/chunked.bin`, `${dir}/up.bin`].map((p) => p).sort());

    const tarred = await downloadAll(client, podB, dir, { archive: ArchiveFormat.TAR });
    const names = await tarNames(tarred.data);
    expect(names.sort()).toEqual(expect.arrayContaining([expect.stringMatching(/up\.bin$/), expect.stringMatching(/chunked\.bin$/)]));

    await client.rename({ container: podB, path: `${dir}/up.bin`, newPath: `${dir}/moved.bin` });
    expect(existsSync(join(b.root, dir, "moved.bin"))).toBe(true);
    await client.remove({ container: podB, path: dir, recursive: true });
    expect(existsSync(join(b.root, dir))).toBe(false);
  }, 60_000);

  it("a NOT_FOUND from node-b arrives as NOT_FOUND with node-b's message", async () => {
    const [code, message] = await codeAndMessage(a.clients[protocol].stat({ container: podB, path: "/no/such/file" }));
    expect(code).toBe(Code.NotFound);
    expect(message).toContain("/no/such/file");
    const [dcode] = await codeAndMessage(downloadAll(a.clients[protocol], podB, "/no/such/file"));
    expect(dcode).toBe(Code.NotFound);
  });

  it("pod-a through node-a is served by node-a itself, from the bytes read to find the target (nothing reaches node-b)", async () => {
    writeFileSync(join(a.root, "here.txt"), "here");
    const before = seenByB.length;
    const st = await a.clients[protocol].stat({ container: podA, path: "/here.txt" });
    expect(st.entry?.size).toBe(4n);
    const data = random(2 * MiB + 1);
    const up = await uploadAll(a.clients[protocol], podA, `/here-${protocol}.bin`, data);
    expect(hex(up.sha256)).toBe(sha256(data));
    const down = await downloadAll(a.clients[protocol], podA, `/here-${protocol}.bin`);
    expect(sha256(down.data)).toBe(sha256(data));
    expect(seenByB.length).toBe(before);
  });
});

async function tarNames(data: Buffer): Promise<string[]> {
  const extract = tar.extract();
  const names: string[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (h, s, next) => {
      names.push(h.name);
      s.on("end", next);
      s.resume();
    });
    extract.on("finish", resolve);
    extract.on("error", reject);
  });
  extract.end(data);
  await done;
  return names;
}

describe("Connect JSON over HTTP/1.1 with fetch", () => {
  it("unary POST and GET ?message= for pod-b through node-a", async () => {
    writeFileSync(join(b.root, "json.txt"), "hello from b");
    const body = JSON.stringify({ container: podB, path: "/json.txt" });
    const post = await fetch(`${a.url}/podfiles.v1.FileService/Stat`, { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(post.status).toBe(200);
    expect(((await post.json()) as { entry: { size: string } }).entry.size).toBe("12");
    const get = await fetch(`${a.url}/podfiles.v1.FileService/Stat?connect=v1&encoding=json&message=${encodeURIComponent(body)}`);
    // Stat is not marked side-effect free, so Connect GET is refused — by node-b, after the forward
    expect([get.status, await get.text()]).toEqual([405, ""]);
    const missing = await fetch(`${a.url}/podfiles.v1.FileService/Stat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ container: podB, path: "/nope" }),
    });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string; message: string }).code).toBe("not_found");
  });
});

describe("hop marker, agent credential and caller address", () => {
  it("a call that carries a (crafted) hop marker is served where it arrives, never forwarded", async () => {
    const before = { lookups: placeA.lookups, seen: seenByB.length };
    const client = fileClients(a.url, [(next) => (req) => (req.header.set("podfiles-forwarded-by", "node-a"), next(req))]).grpc;
    const [code, message] = await codeAndMessage(client.stat({ container: podB, path: "/json.txt" }));
    expect(code).toBe(Code.NotFound); // node-a's own answer: it serves pod-a, not pod-b
    expect(message).toContain("this server serves ns/pod-a/c");
    expect(placeA.lookups).toBe(before.lookups);
    expect(seenByB.length).toBe(before.seen);
  });

  it("node-b trusts the caller address only from an agent with a valid credential; a caller's own forwarded-* headers are dropped", async () => {
    const client = fileClients(a.url, [
      (next) => (req) => (req.header.set("podfiles-forwarded-for", "6.6.6.6"), req.header.set("podfiles-agent-authorization", "Bearer forged"), next(req)),
    ]).grpc;
    writeFileSync(join(b.root, "peer.txt"), "x");
    await client.stat({ container: podB, path: "/peer.txt" });
    const last = seenByB.at(-1)!;
    expect(last.peer).toBe("127.0.0.1");
    expect(last.peer).not.toBe("6.6.6.6");
  });

  it("a forwarded call with a wrong agent credential is UNAUTHENTICATED at node-b", async () => {
    const c = await startTestServer({
      forward: { self: "node-c", locate: async () => ({ node: "node-b", address: new URL(b.url).host }), agentCredential: () => "Bearer not-an-agent" },
    });
    try {
      const [code, message] = await codeAndMessage(c.clients.grpc.stat({ container: podB, path: "/peer.txt" }));
      expect(code).toBe(Code.Unauthenticated);
      expect(message).toContain("agent credential");
    } finally {
      await c.close();
    }
  });

  it("the caller's Authorization travels unchanged to the serving agent", async () => {
    const client = fileClients(a.url, [(next) => (req) => (req.header.set("authorization", "Bearer caller-token"), next(req))]).connectH2;
    await client.stat({ container: podB, path: "/peer.txt" });
    expect(seenByB.at(-1)!.authorization).toBe("Bearer caller-token");
  });
});

describe("what the forwarding agent learns stays behind authorization", () => {
  it("a pod lookup's NOT_FOUND reaches only a caller the auth interceptors let through (else their PERMISSION_DENIED)", async () => {
    const denyAll: Interceptor = () => async () => {
      throw permissionDenied("stand-in authorization: denied");
    };
    const locate = async (): Promise<Peer | undefined> => {
      throw notFound("pod ns/secret-pod not found");
    };
    const guarded = await startTestServer({ name: podA, forward: { self: "node-a", locate }, interceptors: [denyAll] });
    const open = await startTestServer({ name: podA, forward: { self: "node-a", locate } });
    try {
      const target = { ...podB, pod: "secret-pod" };
      expect(await codeAndMessage(guarded.clients.grpc.stat({ container: target, path: "/" }))).toEqual([
        Code.PermissionDenied,
        "stand-in authorization: denied",
      ]);
      expect(await codeAndMessage(open.clients.grpc.stat({ container: target, path: "/" }))).toEqual([Code.NotFound, "pod ns/secret-pod not found"]);
    } finally {
      await guarded.close();
      await open.close();
    }
  });
});

describe("failures of the far side", () => {
  it("no ready agent on the pod's node: FAILED_PRECONDITION naming the node", async () => {
    placeA.nodes.set("pod-x", "node-x");
    const [code, message] = await codeAndMessage(a.clients.grpc.stat({ container: { ...podB, pod: "pod-x" }, path: "/" }));
    expect(code).toBe(Code.FailedPrecondition);
    expect(message).toBe("no ready podfiles agent on node node-x");
  });

  it("an agent that cannot be reached: UNAVAILABLE naming node and address, in bounded time", async () => {
    const dead = "127.0.0.1:1"; // nothing listens on port 1
    placeA.nodes.set("pod-dead", "node-dead");
    placeA.agents.set("node-dead", dead);
    for (const protocol of ["grpc", "connectJson"] as const) {
      const started = performance.now();
      const [code, message] = await codeAndMessage(a.clients[protocol].stat({ container: { ...podB, pod: "pod-dead" }, path: "/" }));
      expect(code).toBe(Code.Unavailable);
      expect(message).toContain("node node-dead");
      expect(message).toContain(dead);
      expect(performance.now() - started).toBeLessThan(6000);
    }
  });

  it("the caller's deadline reaches node-b (DEADLINE_EXCEEDED from node-b, not only from the client)", async () => {
    // a raw HTTP/2 call with grpc-timeout and no client-side timer: only node-b can end it
    writeFileSync(join(b.root, "slow.txt"), "x");
    const session = http2.connect(a.url);
    try {
      const body = await grpcRequestBody({ container: podB, path: "/slow.txt" });
      const started = performance.now();
      const stream = session.request({
        ":method": "POST",
        ":path": "/podfiles.v1.FileService/Stat",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": "300m",
        "x-test-wait": "1",
      });
      stream.end(body);
      const status = await new Promise<string>((resolve) => {
        stream.on("response", (h) => h["grpc-status"] && resolve(String(h["grpc-status"])));
        stream.on("trailers", (t) => resolve(String(t["grpc-status"])));
        stream.resume();
      });
      expect(status).toBe(String(Code.DeadlineExceeded));
      expect(performance.now() - started).toBeLessThan(2500);
      const seen = seenByB.at(-1)!;
      expect(seen.timeout).toMatch(/^\d+m$/);
      expect(Number(seen.timeout!.slice(0, -1))).toBeLessThanOrEqual(300);
    } finally {
      session.close();
    }
  });
});

async function grpcRequestBody(msg: { container: typeof podB; path: string }): Promise<Buffer> {
  const { create, toBinary } = await import("@bufbuild/protobuf");
  const { StatRequestSchema } = await import("../../gen/ts/podfiles/v1/files_pb.js");
  const bytes = toBinary(StatRequestSchema, create(StatRequestSchema, msg));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/** Open descriptors of this process that point at `file`. */
function fdsOn(file: string): number {
  let n = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === file) n++;
    } catch {
      // closed while listed
    }
  }
  return n;
}

async function downloadBody(path: string): Promise<Buffer> {
  const { create, toBinary } = await import("@bufbuild/protobuf");
  const { DownloadRequestSchema } = await import("../../gen/ts/podfiles/v1/files_pb.js");
  const bytes = toBinary(DownloadRequestSchema, create(DownloadRequestSchema, { container: podB, path }));
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

describe("streams through the hop", () => {
  const bigPath = () => join(b.root, "big.bin");
  beforeAll(() => {
    // 256 MiB of zeros: the size is what matters here (a sparse file costs no disk)
    const fd = openSync(bigPath(), "w");
    ftruncateSync(fd, 256 * MiB);
    closeSync(fd);
  });

  it("a cancelled download frees the stream and the file on node-b", async () => {
    const session = http2.connect(a.url);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/podfiles.v1.FileService/Download", "content-type": "application/grpc", te: "trailers" });
      stream.end(await downloadBody("/big.bin"));
      await new Promise((resolve) => stream.once("data", resolve));
      expect(fdsOn(bigPath())).toBe(1);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      const until = performance.now() + 3000;
      while (fdsOn(bigPath()) > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(fdsOn(bigPath())).toBe(0);
    } finally {
      session.close();
    }
  });

  it("a cancelled HTTP/1.1 download (Connect streaming) frees the stream and the file on node-b", async () => {
    const { request } = await import("node:http");
    const body = await downloadBody("/big.bin");
    const url = new URL(a.url);
    const req = request({
      host: url.hostname,
      port: url.port,
      method: "POST",
      path: "/podfiles.v1.FileService/Download",
      headers: { "content-type": "application/connect+proto" },
    });
    const res = await new Promise<import("node:http").IncomingMessage>((resolve) => (req.on("response", resolve), req.end(body)));
    await new Promise((resolve) => res.once("data", resolve));
    expect(fdsOn(bigPath())).toBe(1);
    req.destroy();
    const until = performance.now() + 3000;
    while (fdsOn(bigPath()) > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(fdsOn(bigPath())).toBe(0);
  });

  it("a caller that reads nothing while 256 MiB is forwarded keeps the forwarding process's memory bounded", async () => {
    const session = http2.connect(a.url);
    try {
      const stream = session.request({ ":method": "POST", ":path": "/podfiles.v1.FileService/Download", "content-type": "application/grpc", te: "trailers" });
      stream.end(await downloadBody("/big.bin"));
      stream.pause();
      const before = process.memoryUsage().rss;
      let peak = before;
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, process.memoryUsage().rss);
      }
      // both agents live in this process: a buffering hop would hold most of the 256 MiB by now
      expect(peak - before).toBeLessThan(96 * MiB);
      // and then the whole file arrives, byte-equal
      let received = 0;
      stream.on("data", (chunk: Buffer) => {
        received += chunk.length;
      });
      const trailersArrived = new Promise<http2.IncomingHttpHeaders>((resolve) => stream.on("trailers", resolve));
      const ended = new Promise((resolve) => stream.on("end", resolve));
      stream.resume();
      const [trailers] = await Promise.all([trailersArrived, ended]);
      expect(trailers["grpc-status"]).toBe("0");
      expect(received).toBeGreaterThan(256 * MiB);
    } finally {
      session.close();
    }
  }, 60_000);
});

describe("kube-finder's REST API for pod-b through node-a (forwarded whole, served by node-b's own REST front end)", () => {
  const files = (server: TestServer, pod: string, subpath: string, query = "") =>
    `${server.url}/apis/v1/namespaces/ns/pods/${pod}/containers/c/files?subpath=${encodeURIComponent(subpath)}${query}`;

  it("lists a directory, reads a file with a Range, uploads multipart: all on node-b, with the caller's token", async () => {
    mkdirSync(join(b.root, "kf"), { recursive: true });
    writeFileSync(join(b.root, "kf", "hello.txt"), "hello from b\n");
    const calls = seenByB.length;
    const list = await fetch(files(a, "pod-b", "/kf"), { headers: { authorization: "Bearer caller-token" } });
    expect(list.status).toBe(200);
    const body = (await list.json()) as { subpath: string; files: { name: string; size: number }[] };
    expect(body.files.map((f) => [f.name, f.size])).toEqual([["hello.txt", 13]]);
    const part = await fetch(files(a, "pod-b", "/kf/hello.txt", "&token=query-token"), { headers: { range: "bytes=6-" } });
    expect([part.status, part.headers.get("content-range"), await part.text()]).toEqual([206, "bytes 6-12/13", "from b\n"]);

    const form = new FormData();
    form.append("file", new Blob([random(MiB + 3)]), "up.bin");
    const up = await fetch(files(a, "pod-b", "/kf"), { method: "POST", body: form, headers: { authorization: "Bearer caller-token" } });
    expect(up.status).toBe(200);
    expect(readFileSync(join(b.root, "kf", "up.bin")).length).toBe(MiB + 3);
    expect(existsSync(join(a.root, "kf"))).toBe(false);
    // node-b's handlers served every call, each with the caller's own token (kube-finder's ?token= too)
    const onB = seenByB.slice(calls);
    expect(onB.map((c) => c.method)).toEqual(["Stat", "ListFiles", "Stat", "Download", "Stat", "Stat", "Upload"]);
    expect(new Set(onB.map((c) => c.authorization))).toEqual(new Set(["Bearer caller-token", "Bearer query-token"]));
  });

  it("a pod whose node has no ready agent: kube-finder's JSON error with FAILED_PRECONDITION naming the node", async () => {
    placeA.nodes.set("pod-c", "node-c");
    try {
      const r = await fetch(files(a, "pod-c", "/"));
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ error: "no ready podfiles agent on node node-c", code: "failed_precondition" });
    } finally {
      placeA.nodes.delete("pod-c");
    }
  });

  it("a request that claims to be forwarded, without the agent credential, is refused on node-b", async () => {
    const r = await fetch(files(b, "pod-b", "/"), { headers: { "podfiles-forwarded-by": "node-a", "podfiles-agent-authorization": "Bearer forged" } });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { code: string }).code).toBe("unauthenticated");
  });
});

describe.each(["grpc", "connectH2"] as const)("an Upload trailer for pod-b through node-a over %s", (protocol) => {
  /** header, data, then an UploadTrailer with the given digest */
  const withTrailer = (path: string, data: Uint8Array, digest: Uint8Array) =>
    a.clients[protocol].upload(
      (async function* () {
        yield { part: { case: "header" as const, value: { container: podB, path } } };
        yield { part: { case: "data" as const, value: data } };
        yield { part: { case: "trailer" as const, value: { expectedSize: BigInt(data.length), expectedDigest: digest } } };
      })(),
    );

  it("reaches node-b and is checked there: written when it matches, DATA_LOSS and nothing when not", async () => {
    const data = random(MiB + 9);
    const good = Buffer.from(sha256(data), "hex");
    const up = await withTrailer(`/trailer-${protocol}.bin`, data, good);
    expect(hex(up.sha256)).toBe(sha256(data));
    expect(sha256(readFileSync(join(b.root, `trailer-${protocol}.bin`)))).toBe(sha256(data));
    const bad = Buffer.from(good);
    bad[9] ^= 1;
    const [code, message] = await codeAndMessage(withTrailer(`/trailer-bad-${protocol}.bin`, data, bad));
    expect(code).toBe(Code.DataLoss);
    expect(message).toMatch(/SHA-256 mismatch/);
    expect(existsSync(join(b.root, `trailer-bad-${protocol}.bin`))).toBe(false);
    expect(readdirSync(b.root).filter((n) => n.includes(".podfiles-"))).toEqual([]);
  });
});
