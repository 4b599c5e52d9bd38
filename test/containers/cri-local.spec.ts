/**
 * Local containers mode (`podfiles serve --cri SOCKET`: CriPodResolver) and the cgroup-scan
 * fallback, on REAL containers from the harness; plus time to first byte of a Download for a
 * container not yet cached and for a cached one (printed, for the note). Needs root.
 */
import { buildAuth } from "../../src/cli/auth-options.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code } from "@connectrpc/connect";
import { silentLogger } from "../../src/log.js";
import { CgroupPidSource } from "../../src/resolve/cgroup-pid-source.js";
import { CriPodResolver } from "../../src/resolve/cri-pod-resolver.js";
import { ContainerRoots } from "../../src/resolve/container-roots.js";
import { createAgentResolver } from "../../src/resolve/agent-resolver.js";
import { KubePodSource, loadKubeConfig } from "../../src/resolve/kube-pods.js";
import { createServer, type RunningServer } from "../../src/server/server.js";
import { validateAgent } from "../../src/cli/commands/agent.js";
import { removePod, restartContainer, runPod, startContainerRuntime, stopContainer, type ContainerRuntime, type RunningPod } from "../harness/containers.js";
import { fileClients } from "../support/server.js";
import { download, rpcError, timeToFirstByte, upload, type FileClient, type Ref } from "./support/rpc.js";
import { podJson, startStandInApi, type StandInApi } from "./support/standin-api.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const enc = (s: string) => new TextEncoder().encode(s);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (x: number) => `${x.toFixed(2)} ms`;

describe("local containers mode and cgroup fallback on real containers", { timeout: 60_000 }, () => {
  let rt: ContainerRuntime;
  let pod: RunningPod;
  let resolver: CriPodResolver;
  let server: RunningServer;
  let client: FileClient;
  const ref = (container: string): Ref => ({ namespace: "local-ns", pod: "box", container });

  beforeAll(async () => {
    rt = await startContainerRuntime();
    pod = await runPod({ namespace: "local-ns", name: "box", containers: [{ name: "one" }, { name: "two", user: 1000 }, { name: "three" }] });
    resolver = new CriPodResolver({ socketPath: rt.criSocket });
    server = await createServer({ resolver, logger: silentLogger }).listen(0, "127.0.0.1");
    client = fileClients(server.url).grpc;
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    await resolver?.close();
    if (pod) await removePod(pod).catch(() => undefined);
    await rt?.stop();
  }, 120_000);

  it("addresses containers by sandbox namespace/name and container name", async () => {
    expect((await download(client, ref("two"), "/etc/passwd")).toString()).toContain("app:x:1000:1000:");
    expect((await upload(client, ref("two"), "/tmp/x", enc("x"))).entry).toMatchObject({ uid: 1000, gid: 1000 });
    // empty container name: the first container ("one"), which does not have two's file
    expect((await rpcError(client.stat({ container: ref(""), path: "/tmp/x" }))).code).toBe(Code.NotFound);
    await upload(client, ref("one"), "/tmp/in-one", enc("1"));
    expect((await client.stat({ container: ref(""), path: "/tmp/in-one" })).entry?.size).toBe(1n);
    const missingPod = await rpcError(client.stat({ container: { namespace: "local-ns", pod: "nope", container: "" }, path: "/" }));
    expect([missingPod.code, missingPod.rawMessage]).toEqual([Code.NotFound, expect.stringContaining(rt.criSocket)]);
    const missing = await rpcError(client.stat({ container: ref("four"), path: "/" }));
    expect(missing.code).toBe(Code.NotFound);
    // the runtime lists containers in no fixed order
    expect(/the pod has: (.*)\)/.exec(missing.rawMessage)?.[1].split(", ").sort()).toEqual(["one", "three", "two"]);
  });

  it("follows a restart and refuses a stopped container", async () => {
    await upload(client, ref("three"), "/tmp/marker", enc("old"));
    const fresh = await restartContainer(pod, "three");
    expect((await rpcError(client.stat({ container: ref("three"), path: "/tmp/marker" }))).code).toBe(Code.NotFound);
    expect(resolver.roots.cachedIds()).not.toContain(pod.containers.find((c) => c.name === "three" && c.id !== fresh.id)?.id ?? "x");
    await stopContainer(pod, "three");
    const err = await rpcError(client.stat({ container: ref("three"), path: "/" }));
    expect([err.code, err.rawMessage]).toEqual([Code.FailedPrecondition, expect.stringContaining("state exited")]);
  });

  it("finds the same PID and owner by cgroup scan (cgroup v1 and v2 hierarchies of this host)", async () => {
    const scan = new CgroupPidSource("/proc");
    for (const c of pod.containers.filter((x) => x.name !== "three")) {
      const found = await scan.locate(c.id);
      expect(found.pid).toBe(c.pid);
      expect(found.owner).toEqual(c.name === "two" ? { uid: 1000, gid: 1000 } : { uid: 0, gid: 0 });
    }
    // and serves files through it
    const roots = new ContainerRoots({ pids: scan });
    const fs = await roots.get(pod.containers[1]!.id);
    expect((await fs.stat("/etc/passwd", { followSymlinks: true })).size).toBeGreaterThan(0n);
    await roots.close();
  });

  it("refuses to listen beyond loopback without auth unless told to", () => {
    const base = { port: 8080, procRoot: "/proc", host: "0.0.0.0" };
    expect(() => buildAuth({ auth: "none" }, { host: base.host, logger: silentLogger })).toThrow(/refusing to serve files without authentication/);
    expect(() => buildAuth({ auth: "none", insecureAllowAnonymous: true }, { host: base.host, logger: silentLogger })).not.toThrow();
    expect(() => buildAuth({ auth: "none" }, { host: "127.0.0.1", logger: silentLogger })).not.toThrow();
    expect(() => validateAgent({ ...base, host: "127.0.0.1", criSocket: "/nonexistent.sock" })).toThrow(/--cri-socket/);
  });
});

describe("time to first byte of a Download (agent, stand-in API server, real containers)", { timeout: 120_000 }, () => {
  let rt: ContainerRuntime;
  let api: StandInApi;
  const pods: RunningPod[] = [];
  let work: string;

  beforeAll(async () => {
    rt = await startContainerRuntime();
    api = await startStandInApi();
    work = mkdtempSync(join(tmpdir(), "podfiles-ttfb-"));
    for (let i = 0; i < 4; i++) {
      const p = await runPod({ namespace: "perf", name: `p${i}`, containers: [{ name: "c" }] });
      pods.push(p);
      api.pods.set(`perf/p${i}`, podJson(p, "node-a"));
    }
    api.writeKubeconfig(join(work, "kubeconfig"));
  }, 600_000);

  afterAll(async () => {
    for (const p of pods) await removePod(p).catch(() => undefined);
    await api?.close();
    await rt?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  async function measure(mode: "cri" | "cgroup") {
    const podSource = new KubePodSource(loadKubeConfig({ kubeconfig: join(work, "kubeconfig"), context: "standin" }));
    const resolver = createAgentResolver({ pods: podSource, criSocket: mode === "cri" ? rt.criSocket : "none", procRoot: "/proc", nodeName: "node-a" });
    const server = await createServer({ resolver, logger: silentLogger }).listen(0, "127.0.0.1");
    const client = fileClients(server.url).grpc;
    const ref = (i: number): Ref => ({ namespace: "perf", pod: `p${i}`, container: "c" });
    try {
      const first = await timeToFirstByte(client, ref(0), "/etc/passwd"); // cold process: connections too
      const uncached: number[] = [];
      for (let i = 1; i < pods.length; i++) uncached.push(await timeToFirstByte(client, ref(i), "/etc/passwd"));
      const cached: number[] = [];
      for (let k = 0; k < 25; k++) for (let i = 0; i < pods.length; i++) cached.push(await timeToFirstByte(client, ref(i), "/etc/passwd"));
      expect(resolver.roots.stats.misses).toBe(pods.length);
      console.log(
        `TTFB ${mode}: first request of a fresh agent ${fmt(first)}; container not yet cached (warm agent) median ${fmt(median(uncached))} [${uncached.map(fmt).join(", ")}]; cached median ${fmt(median(cached))} (n=${cached.length}, min ${fmt(Math.min(...cached))}, max ${fmt(Math.max(...cached))})`,
      );
      return { first, uncached: median(uncached), cached: median(cached) };
    } finally {
      await server.close();
      await resolver.close();
    }
  }

  it("is measured with the CRI and with the cgroup scan", async () => {
    const cri = await measure("cri");
    const scan = await measure("cgroup");
    expect(cri.cached).toBeLessThan(cri.uncached * 2 + 5);
    expect(scan.cached).toBeGreaterThan(0);
  });
});
