// Hostile container content and rude callers, against `podfiles serve` in a process of its own
// (a crash or a blocked event loop there must show as a failure here, not hang the test runner):
// FIFOs, device nodes and sockets are never opened; a hung mount costs one call, not the server;
// a tar download cancelled mid-stream never kills the process; trees deeper than the JS stack
// list and download with a bounded number of fds.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, readlinkSync } from "node:fs";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveFormat, OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { fileClients } from "../support/server.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { codeAndMessage } from "../support/status.js";
import { uploadAll } from "../support/files.js";
import { hungMountUnavailable, mountHung, type HungMount } from "../support/hung-mount.js";

const container = { namespace: "local", pod: "local", container: "local" };
const isRoot = process.getuid?.() === 0;
const MiB = 1024 * 1024;

/** Stat p50/p99 (ms) of `path` over n sequential calls. */
async function statLatency(client: ReturnType<typeof fileClients>["grpc"], path: string, n: number): Promise<{ p50: number; p99: number; max: number }> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await client.stat({ container, path }, { timeoutMs: 5_000 });
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { p50: ms[Math.floor(n * 0.5)]!, p99: ms[Math.min(n - 1, Math.floor(n * 0.99))]!, max: ms[n - 1]! };
}

async function healthCheck(url: string): Promise<number> {
  const res = await fetch(`${url}/grpc.health.v1.Health/Check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
    signal: AbortSignal.timeout(2_000),
  });
  return res.status;
}

/** A process blocked in open(fifo, O_WRONLY) until someone opens the FIFO for reading. */
function fifoWriter(fifo: string): { child: ChildProcess; opened: () => boolean } {
  const child = spawn("python3", ["-c", `import os,sys\nfd=os.open(sys.argv[1], os.O_WRONLY)\nprint("opened", flush=True)\nos.close(fd)`, fifo], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  let out = "";
  child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  return { child, opened: () => out.includes("opened") };
}

/** A character major number no driver has registered: open(2) of such a node fails (ENXIO/ENODEV). */
function unregisteredCharMajor(): number {
  const text = readFileSync("/proc/devices", "utf8");
  const chars = text.slice(0, text.indexOf("Block devices:"));
  const used = new Set([...chars.matchAll(/^\s*(\d+)\s/gm)].map((m) => Number(m[1])));
  for (let major = 234; major <= 254; major++) if (!used.has(major)) return major;
  throw new Error("no free character major in 234..254");
}

/** A Connect streaming envelope: flags 0, big-endian length, the message. */
function envelope(json: string): Buffer {
  const body = Buffer.from(json);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** The pid of the server itself (bin/podfiles.js runs the CLI in its own process). */
const serverPid = (server: ServerProcess): number => server.child.pid!;

/** Open fds of a process now. */
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** Runs fn while sampling pid's fd count every few ms; returns fn's result and the peak. */
async function withPeakFds<T>(pid: number, fn: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = fdCount(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, fdCount(pid));
    } catch {
      /* process gone: the caller's assertions say so */
    }
  }, 2);
  try {
    return { result: await fn(), peak };
  } finally {
    clearInterval(timer);
  }
}

describe("FIFOs, device nodes and sockets are never opened", () => {
  let work: string;
  let root: string;
  let server: ServerProcess;
  let sock: NetServer;
  let clients: ReturnType<typeof fileClients>;
  let major: number;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "podfiles-hostile-"));
    root = join(work, "root");
    mkdirSync(join(root, "dev"), { recursive: true });
    mkdirSync(join(root, "etc"));
    mkdirSync(join(root, "tree"));
    writeFileSync(join(root, "tree", "plain.txt"), "plain");
    writeFileSync(join(root, "plain.txt"), "plain");
    spawnSync("mkfifo", [join(root, "fifo"), join(root, "tree", "fifo"), join(root, "etc", "passwd")]);
    if (isRoot) {
      major = unregisteredCharMajor();
      spawnSync("mknod", [join(root, "dev", "null"), "c", "1", "3"]);
      spawnSync("mknod", [join(root, "dev", "nodriver"), "c", String(major), "0"]);
      spawnSync("mknod", [join(root, "tree", "nodriver"), "c", String(major), "0"]);
      spawnSync("mknod", [join(root, "etc", "group"), "c", String(major), "0"]);
    }
    sock = createNetServer();
    await new Promise<void>((r) => sock.listen(join(root, "sock"), r));
    server = await startServerProcess(root);
    clients = fileClients(server.url);
  });
  afterAll(async () => {
    await server?.stop();
    sock?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it("a FIFO: Download and APPEND fail with FAILED_PRECONDITION naming the type; the FIFO is never opened; the server keeps answering", async () => {
    const writer = fifoWriter(join(root, "fifo"));
    const passwdWriter = fifoWriter(join(root, "etc", "passwd"));
    try {
      for (const client of [clients.grpc, clients.connectJson, clients.grpcWeb]) {
        const [code, msg] = await codeAndMessage(
          (async () => {
            for await (const _ of client.download({ container, path: "/fifo" }, { timeoutMs: 5_000 })) void _;
          })(),
        );
        expect([code, msg]).toEqual([Code.FailedPrecondition, "/fifo: cannot download a fifo"]);
      }
      const [code] = await codeAndMessage(uploadAll(clients.grpc, container, "/fifo", Buffer.from("x"), { overwrite: OverwritePolicy.APPEND, offset: 0n }));
      expect(code).toBe(Code.FailedPrecondition);
      // Stat answers, and /etc/passwd (a FIFO here) gives no names rather than a blocked or opened FIFO
      const st = await clients.grpc.stat({ container, path: "/plain.txt" }, { timeoutMs: 2_000 });
      expect(st.entry?.user).toBe("");
      expect(await healthCheck(server.url)).toBe(200);
      await new Promise((r) => setTimeout(r, 100));
      // A writer blocks in open(O_WRONLY) until a reader opens the FIFO: still blocked = never opened.
      expect(writer.opened()).toBe(false);
      expect(passwdWriter.opened()).toBe(false);
    } finally {
      writer.child.kill();
      passwdWriter.child.kill();
    }
  });

  it("a socket: Download fails with FAILED_PRECONDITION naming the type", async () => {
    expect(
      await codeAndMessage(
        (async () => {
          for await (const _ of clients.grpc.download({ container, path: "/sock" }, { timeoutMs: 5_000 })) void _;
        })(),
      ),
    ).toEqual([Code.FailedPrecondition, "/sock: cannot download a socket"]);
  });

  it.skipIf(!isRoot)("character devices: refused by type, before any open (a node of a driverless major would fail open(2) otherwise)", async () => {
    expect(
      await codeAndMessage(
        (async () => {
          for await (const _ of clients.grpc.download({ container, path: "/dev/null" }, { timeoutMs: 5_000 })) void _;
        })(),
      ),
    ).toEqual([Code.FailedPrecondition, "/dev/null: cannot download a char-device"]);
    // open(2) of this node fails with ENXIO/ENODEV; a message naming the type proves no open came first
    expect(
      await codeAndMessage(
        (async () => {
          for await (const _ of clients.connectJson.download({ container, path: "/dev/nodriver" }, { timeoutMs: 5_000 })) void _;
        })(),
      ),
    ).toEqual([Code.FailedPrecondition, "/dev/nodriver: cannot download a char-device"]);
    const [code] = await codeAndMessage(uploadAll(clients.grpc, container, "/dev/null", Buffer.from("x"), { overwrite: OverwritePolicy.APPEND, offset: 0n }));
    expect(code).toBe(Code.FailedPrecondition);
    // /etc/group is such a node here: Stat answers with an empty group name
    const st = await clients.grpc.stat({ container, path: "/dev/nodriver" }, { timeoutMs: 2_000 });
    expect(st.entry?.group).toBe("");
  });

  it("a tar download skips FIFOs, devices and sockets without opening them", async () => {
    const writer = fifoWriter(join(root, "tree", "fifo"));
    try {
      const names: string[] = [];
      const tar = (await import("tar-stream")).default;
      const extract = tar.extract();
      const done = (async () => {
        for await (const e of extract) {
          names.push(e.header.name);
          e.resume();
        }
      })();
      for await (const m of clients.grpc.download({ container, path: "/tree", format: ArchiveFormat.TAR }, { timeoutMs: 5_000 })) {
        if (m.part.case === "data") extract.write(m.part.value);
      }
      extract.end(null); // streamx types end(data) with a required chunk; null ends without one, as end() does
      await done;
      expect(names).toEqual(["plain.txt"]);
      expect(writer.opened()).toBe(false);
    } finally {
      writer.child.kill();
    }
  });
});

describe("a tar download cancelled mid-stream never kills the server", () => {
  let work: string;
  let server: ServerProcess;
  let clients: ReturnType<typeof fileClients>;
  const REPEAT = 20;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "podfiles-cancel-"));
    const dir = join(work, "root", "big");
    mkdirSync(dir, { recursive: true });
    const mib = Buffer.alloc(MiB, 7);
    for (let i = 0; i < 40; i++) writeFileSync(join(dir, `f${i}.bin`), mib);
    server = await startServerProcess(join(work, "root"));
    clients = fileClients(server.url);
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  for (const proto of ["connectJson", "connectBinaryH1", "grpcWeb", "grpc", "connectH2"] as const) {
    it(`${proto}: cancelled after the first data message, ${REPEAT} times`, async () => {
      for (let i = 0; i < REPEAT; i++) {
        const ac = new AbortController();
        let bytes = 0;
        try {
          for await (const m of clients[proto].download({ container, path: "/big", format: ArchiveFormat.TAR }, { signal: ac.signal })) {
            if (m.part.case === "data") bytes += m.part.value.length;
            if (bytes >= 2000) ac.abort();
          }
        } catch (e) {
          expect(ConnectError.from(e).code, ConnectError.from(e).message).toBe(Code.Canceled);
        }
        expect(server.child.exitCode).toBeNull();
      }
      await new Promise((r) => setTimeout(r, 200));
      expect(server.child.exitCode).toBeNull();
      expect((await clients.grpc.stat({ container, path: "/big" }, { timeoutMs: 2_000 })).entry?.name).toBe("big");
    });
  }

  it("HTTP/1.1 with the response body dropped after 2000 bytes (curl -N | head -c 2000), 20 times", async () => {
    for (let i = 0; i < REPEAT; i++) {
      const res = await fetch(`${server.url}/podfiles.v1.FileService/Download`, {
        method: "POST",
        headers: { "content-type": "application/connect+json" },
        body: envelope(JSON.stringify({ container, path: "/big", format: "ARCHIVE_FORMAT_TAR" })),
      }).catch(() => undefined);
      if (res?.body) {
        const reader = res.body.getReader();
        let got = 0;
        while (got < 2000) {
          const r = await reader.read();
          if (r.done) break;
          got += r.value.length;
        }
        await reader.cancel();
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(server.child.exitCode).toBeNull();
    expect(await healthCheck(server.url)).toBe(200);
  });

  it("a tar download while the directory's subdirectories are swapped and removed", async () => {
    const root = join(work, "root");
    mkdirSync(join(root, "churn", "a"), { recursive: true });
    let stop = false;
    const churn = (async () => {
      while (!stop) {
        rmSync(join(root, "churn", "a"), { recursive: true, force: true });
        mkdirSync(join(root, "churn", "a", "b"), { recursive: true });
        for (let k = 0; k < 20; k++) writeFileSync(join(root, "churn", "a", "b", `f${k}`), "x".repeat(100_000));
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      for (let i = 0; i < 40; i++) {
        await codeAndMessage(
          (async () => {
            for await (const _ of clients.connectJson.download({ container, path: "/churn", format: ArchiveFormat.TAR }, { timeoutMs: 10_000 })) void _;
          })(),
        );
        expect(server.child.exitCode).toBeNull();
      }
    } finally {
      stop = true;
      await churn;
    }
    expect(await healthCheck(server.url)).toBe(200);
  });
});

describe("trees deeper than the JS stack", () => {
  let work: string;
  let server: ServerProcess;
  let clients: ReturnType<typeof fileClients>;

  /** A chain of `levels` directories named "d" below root/name, a file every 500 levels. */
  function makeChain(name: string, levels: number): void {
    const py = `import os,sys\nos.chdir(sys.argv[1])\nos.mkdir(sys.argv[2]); os.chdir(sys.argv[2])\nfor i in range(1, int(sys.argv[3])):\n  os.mkdir("d"); os.chdir("d")\n  if i % 500 == 0: open("f", "w").write(str(i))\n`;
    const r = spawnSync("python3", ["-c", py, join(work, "root"), name, String(levels)]);
    if (r.status !== 0) throw new Error(String(r.stderr));
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "podfiles-deep-"));
    mkdirSync(join(work, "root"));
    makeChain("deep3k", 3_000);
    makeChain("deep5k", 5_000);
    server = await startServerProcess(join(work, "root"));
    clients = fileClients(server.url);
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    spawnSync("rm", ["-rf", work]);
  });

  const FD_BUDGET = 64;

  it("ListFiles -r of a 3,000-level tree: every entry, with a bounded number of fds", async () => {
    const base = fdCount(serverPid(server));
    const { result: n, peak } = await withPeakFds(serverPid(server), async () => {
      let n = 0;
      for await (const b of clients.grpc.listFiles({ container, path: "/deep3k", recursive: true }, { timeoutMs: 60_000 })) n += b.entries.length;
      return n;
    });
    expect(n).toBe(2_999 + 5); // 2,999 directories below, a file every 500 levels
    expect(peak - base).toBeLessThanOrEqual(FD_BUDGET);
  });

  it("a tar download of a 3,000-level tree: every entry, with a bounded number of fds", async () => {
    const base = fdCount(serverPid(server));
    const { result: bytes, peak } = await withPeakFds(serverPid(server), async () => {
      let bytes = 0;
      for await (const m of clients.grpc.download({ container, path: "/deep3k", format: ArchiveFormat.TAR }, { timeoutMs: 60_000 })) {
        if (m.part.case === "data") bytes += m.part.value.length;
      }
      return bytes;
    });
    expect(bytes).toBeGreaterThan(3_000 * 512);
    expect(peak - base).toBeLessThanOrEqual(FD_BUDGET);
  });

  it("a 5,000-level tree: a clear FAILED_PRECONDITION at the 4,096-level limit, for ListFiles -r and tar, fds bounded", async () => {
    const base = fdCount(serverPid(server));
    const { result, peak } = await withPeakFds(serverPid(server), async () => {
      let n = 0;
      const list = await codeAndMessage(
        (async () => {
          for await (const b of clients.connectH2.listFiles({ container, path: "/deep5k", recursive: true }, { timeoutMs: 60_000 })) n += b.entries.length;
        })(),
      );
      const tar = await codeAndMessage(
        (async () => {
          for await (const _ of clients.grpc.download({ container, path: "/deep5k", format: ArchiveFormat.TAR }, { timeoutMs: 60_000 })) void _;
        })(),
      );
      return { list, tar, n };
    });
    expect(result.list[0]).toBe(Code.FailedPrecondition);
    expect(result.list[1]).toMatch(/deeper than 4096 levels/);
    expect(result.tar[0]).toBe(Code.FailedPrecondition);
    expect(result.tar[1]).toMatch(/deeper than 4096 levels/);
    // entries stream in pages (1,000 entries, or sooner when a page is slow to fill: src/handlers/list-files.ts):
    // the page being filled when the limit is hit ends with the error, so at most one page of the 4,096 is lost
    // (Node 24 in CI: 3,955 arrived)
    expect(result.n).toBeGreaterThanOrEqual(4_096 - 1_000);
    expect(peak - base).toBeLessThanOrEqual(FD_BUDGET);
    expect(server.child.exitCode).toBeNull();
  });
});

const noFuse = hungMountUnavailable();

describe.skipIf(noFuse !== undefined)(`a hung mount inside the root costs those calls, not the server${noFuse ? ` (skipped: ${noFuse})` : ""}`, () => {
  let work: string;
  let server: ServerProcess;
  let clients: ReturnType<typeof fileClients>;
  let hung: HungMount;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "podfiles-hung-"));
    mkdirSync(join(work, "root", "mnt", "hung"), { recursive: true });
    writeFileSync(join(work, "root", "ok.txt"), "fine");
    hung = await mountHung(join(work, "root", "mnt", "hung"));
    server = await startServerProcess(join(work, "root"));
    clients = fileClients(server.url);
  });
  afterAll(async () => {
    await hung?.release();
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it("32 calls waiting on the mount: Stat of other paths stays fast (p99 < 50 ms), Health answers; past 48 new calls fail fast; the hung calls fail with UNAVAILABLE", async () => {
    const before = await statLatency(clients.grpc, "/ok.txt", 200);
    console.log(`Stat /ok.txt before: p50 ${before.p50.toFixed(2)} ms, p99 ${before.p99.toFixed(2)} ms, max ${before.max.toFixed(2)} ms`);
    const t0 = performance.now();
    const stuck: Promise<[Code | "ok", string]>[] = [];
    for (let i = 0; i < 32; i++) {
      const client = [clients.grpc, clients.connectJson, clients.grpcWeb, clients.connectH2][i % 4]!;
      if (i % 3 === 0) stuck.push(codeAndMessage(client.stat({ container, path: `/mnt/hung/x${i}` }, { timeoutMs: 30_000 })));
      else if (i % 3 === 1)
        stuck.push(
          codeAndMessage(
            (async () => {
              for await (const _ of client.download({ container, path: `/mnt/hung/f${i}` }, { timeoutMs: 30_000 })) void _;
            })(),
          ),
        );
      else
        stuck.push(
          codeAndMessage(
            (async () => {
              for await (const _ of client.listFiles({ container, path: "/mnt/hung" }, { timeoutMs: 30_000 })) void _;
            })(),
          ),
        );
    }
    await new Promise((r) => setTimeout(r, 1_500)); // past the guard's "stuck" threshold
    const lat = await statLatency(clients.grpc, "/ok.txt", 200);
    console.log(`Stat /ok.txt while 32 calls wait on a hung mount: p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms, max ${lat.max.toFixed(2)} ms`);
    // The bar is p99 < 50 ms. On a machine too loaded to meet it with no hung mount at all (the p99
    // measured just before is over 25 ms), the bar is: no worse than twice that baseline + 20 ms.
    // Either way a server whose event loop or pool the mount blocked fails here (Stat times out).
    expect(lat.p99).toBeLessThan(before.p99 > 25 ? 2 * before.p99 + 20 : 50);
    expect(await healthCheck(server.url)).toBe(200);
    // a plain file read works too
    let got = "";
    for await (const m of clients.connectJson.download({ container, path: "/ok.txt" }, { timeoutMs: 2_000 }))
      if (m.part.case === "data") got += Buffer.from(m.part.value).toString();
    expect(got).toBe("fine");
    // up to the per-container cap (48 stuck calls), then new calls fail fast, naming the cap
    for (let i = 0; i < 16; i++) stuck.push(codeAndMessage(clients.grpc.stat({ container, path: `/mnt/hung/y${i}` }, { timeoutMs: 30_000 })));
    await new Promise((r) => setTimeout(r, 1_300));
    const t1 = performance.now();
    const [code, msg] = await codeAndMessage(clients.grpc.stat({ container, path: "/mnt/hung/more" }, { timeoutMs: 5_000 }));
    expect(code).toBe(Code.Unavailable);
    expect(msg).toMatch(/\d+ calls on this container's filesystem have not answered .*\(cap 48\).*hung mount/);
    expect(performance.now() - t1).toBeLessThan(1_000);
    const outcomes = await Promise.all(stuck);
    const waited = performance.now() - t0;
    for (const [c, m] of outcomes) {
      expect(c).toBe(Code.Unavailable);
      expect(m).toMatch(/did not answer within 10 s \(a hung mount\?\)/);
    }
    expect(waited).toBeLessThan(16_000);
    expect(server.child.exitCode).toBeNull();
  }, 60_000);

  it("after the mount is gone the server is healthy and its fds are back", async () => {
    await hung.release();
    await new Promise((r) => setTimeout(r, 300));
    expect((await clients.grpc.stat({ container, path: "/ok.txt" }, { timeoutMs: 2_000 })).entry?.name).toBe("ok.txt");
    // no fd of the hung mount is left open in the server
    const pid = serverPid(server);
    const fds = readdirSync(`/proc/${pid}/fd`).map((f) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${f}`);
      } catch {
        return "";
      }
    });
    expect(fds.filter((p) => p.includes("/mnt/hung"))).toEqual([]);
  });
});
