/**
 * The node agent against REAL containers (private containerd + runc through the CRI, via the
 * harness) with the Kubernetes part answered by a STAND-IN API server (test/containers/support/
 * standin-api.ts) until the cluster harness provides a real one. Every FileService RPC goes
 * through a real server and the generated client. Needs root; fails loudly when the runtime
 * cannot start.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentResolver } from "../../src/resolve/agent-resolver.js";
import { silentLogger } from "../../src/log.js";
import { KubePodSource, loadKubeConfig } from "../../src/resolve/kube-pods.js";
import type { KubeResolver } from "../../src/resolve/kube-resolver.js";
import { ContainerRoots } from "../../src/resolve/container-roots.js";
import { CriPidSource } from "../../src/resolve/cri-pid-source.js";
import { createServer, type RunningServer } from "../../src/server/server.js";
import { removePod, restartContainer, runPod, startContainerRuntime, stopContainer, type ContainerRuntime, type RunningPod } from "../harness/containers.js";
import { fileClients } from "../support/server.js";
import { download, list, rpcError, upload, type FileClient, type Ref } from "./support/rpc.js";
import { markTerminated, podJson, startStandInApi, type StandInApi } from "./support/standin-api.js";

const NODE = "node-a";
const enc = (s: string) => new TextEncoder().encode(s);

describe("agent on real containers (stand-in API server)", { timeout: 60_000 }, () => {
  let rt: ContainerRuntime;
  let api: StandInApi;
  let resolver: KubeResolver;
  let server: RunningServer;
  let client: FileClient;
  let web: RunningPod;
  let work: string;
  const escapeHostFile = `/podfiles-escape-${process.pid}.txt`;
  const ref = (pod: string, container = ""): Ref => ({ namespace: "team-a", pod, container });
  const pid = (pod: RunningPod, name: string) => pod.containers.find((c) => c.name === name)!.pid;
  const publish = (pod: RunningPod, annotations?: Record<string, string>) => api.pods.set(`${pod.namespace}/${pod.name}`, podJson(pod, NODE, { annotations }));

  beforeAll(async () => {
    rt = await startContainerRuntime();
    api = await startStandInApi();
    work = mkdtempSync(join(tmpdir(), "podfiles-agent-"));
    for (const d of ["rw", "ro"]) rmSync(join(work, d), { force: true, recursive: true });
    const rw = mkdtempSync(join(work, "rw-"));
    const ro = mkdtempSync(join(work, "ro-"));
    chmodSync(rw, 0o777);
    writeFileSync(join(rw, "hello.txt"), "hello from a hostPath volume\n");
    writeFileSync(join(ro, "config.yaml"), "readonly: true\n");
    writeFileSync(escapeHostFile, "HOST SECRET: you must never see this through podfiles\n");
    web = await runPod({
      namespace: "team-a",
      name: "web",
      containers: [
        {
          name: "main",
          mounts: [
            { hostPath: rw, containerPath: "/data" },
            { hostPath: ro, containerPath: "/config", readonly: true },
          ],
        },
        { name: "app", user: 1000 },
      ],
    });
    publish(web, { "kubectl.kubernetes.io/default-container": "app" });
    const kubeconfig = join(work, "kubeconfig");
    api.writeKubeconfig(kubeconfig);
    const pods = new KubePodSource(loadKubeConfig({ kubeconfig, context: "standin" }));
    resolver = createAgentResolver({ pods, criSocket: rt.criSocket, procRoot: "/proc", nodeName: NODE, logger: silentLogger });
    server = await createServer({ resolver, logger: silentLogger }).listen(0, "127.0.0.1");
    client = fileClients(server.url).grpc;
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    await resolver?.close();
    await api?.close();
    if (web) await removePod(web).catch(() => undefined);
    await rt?.stop();
    rmSync(escapeHostFile, { force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it("lists and stats the container's own filesystem", async () => {
    const names = await list(client, ref("web", "main"), "/");
    expect(names).toEqual(expect.arrayContaining(["bin", "etc", "data", "config"]));
    const { entry } = await client.stat({ container: ref("web", "main"), path: "/etc/passwd" });
    expect(entry?.size).toBeGreaterThan(0n);
    expect(api.requests).toContain("GET /api/v1/namespaces/team-a/pods/web");
  });

  it("downloads the image's file, not the host's", async () => {
    const passwd = (await download(client, ref("web", "app"), "/etc/passwd")).toString();
    expect(passwd).toContain("app:x:1000:1000:");
    expect(passwd).toBe(readFileSync(`/proc/${pid(web, "app")}/root/etc/passwd`, "utf8"));
  });

  it("uploads with the container's user as owner when the caller names none", async () => {
    const up = await upload(client, ref("web", "app"), "/tmp/from-agent.txt", enc("owned by app\n"));
    expect(up.entry).toMatchObject({ uid: 1000, gid: 1000, user: "app" });
    const st = statSync(`/proc/${pid(web, "app")}/root/tmp/from-agent.txt`);
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1000, 1000, 0o644]);
    // the root container's default is root; an explicit owner wins
    expect((await upload(client, ref("web", "main"), "/tmp/root.txt", enc("x"))).entry).toMatchObject({ uid: 0, gid: 0 });
    expect((await upload(client, ref("web", "main"), "/tmp/given.txt", enc("x"), { uid: 1000, gid: 1000, mode: 0o600 })).entry).toMatchObject({
      uid: 1000,
      gid: 1000,
    });
  });

  it("makes directories, renames and removes", async () => {
    const c = ref("web", "main");
    await client.makeDirectory({ container: c, path: "/tmp/a/b", parents: true });
    await upload(client, c, "/tmp/a/b/f.txt", enc("move me"));
    const moved = await client.rename({ container: c, path: "/tmp/a/b/f.txt", newPath: "/tmp/a/g.txt" });
    expect(moved.entry?.path).toBe("/tmp/a/g.txt");
    expect((await download(client, c, "/tmp/a/g.txt")).toString()).toBe("move me");
    expect((await rpcError(client.remove({ container: c, path: "/tmp/a" }))).code).toBe(Code.FailedPrecondition);
    await client.remove({ container: c, path: "/tmp/a", recursive: true });
    expect(existsSync(`/proc/${pid(web, "main")}/root/tmp/a`)).toBe(false);
  });

  it("gives each container of a pod its own files; empty name = default-container annotation", async () => {
    await upload(client, ref("web", "main"), "/tmp/only-main.txt", enc("main"));
    expect((await rpcError(client.stat({ container: ref("web", "app"), path: "/tmp/only-main.txt" }))).code).toBe(Code.NotFound);
    // the annotation names "app": the file uploaded to app above is there
    expect((await client.stat({ container: ref("web"), path: "/tmp/from-agent.txt" })).entry?.uid).toBe(1000);
  });

  it("reads and writes a hostPath volume; a read-only mount refuses writes clearly", async () => {
    const c = ref("web", "main");
    expect((await download(client, c, "/data/hello.txt")).toString()).toBe("hello from a hostPath volume\n");
    await upload(client, c, "/data/written.txt", enc("through podfiles"));
    const hostRw = web.containers[0]!.spec.mounts![0]!.hostPath;
    expect(readFileSync(join(hostRw, "written.txt"), "utf8")).toBe("through podfiles");
    expect((await download(client, c, "/config/config.yaml")).toString()).toBe("readonly: true\n");
    const err = await rpcError(upload(client, c, "/config/new.yaml", enc("nope")));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toMatch(/read-only file system/);
  });

  it("never follows a container symlink out to the host", async () => {
    const root = `/proc/${pid(web, "main")}/root`;
    symlinkSync(escapeHostFile, `${root}/tmp/escape`);
    symlinkSync("/etc/passwd", `${root}/tmp/passwd-link`);
    symlinkSync(`../../../../../..${escapeHostFile}`, `${root}/tmp/escape-rel`);
    const c = ref("web", "main");
    for (const p of ["/tmp/escape", "/tmp/escape-rel"]) {
      const err = await rpcError(download(client, c, p));
      expect(err.code).toBe(Code.NotFound);
      expect(err.message).not.toContain("HOST SECRET");
    }
    expect((await download(client, c, "/tmp/passwd-link")).toString()).toContain("app:x:1000:1000:");
    const st = await client.stat({ container: c, path: "/tmp/escape", followSymlinks: false });
    expect(st.entry?.symlinkTarget).toBe(escapeHostFile);
  });

  it("serves a restarted container's new process, never the cached old one", async () => {
    const pod = await runPod({ namespace: "team-a", name: "restarts", containers: [{ name: "main" }] });
    try {
      publish(pod);
      const c = ref("restarts", "main");
      await upload(client, c, "/tmp/marker", enc("before restart"));
      const oldId = pod.containers[0]!.id;
      expect(resolver.roots.cachedIds()).toContain(oldId);
      const fresh = await restartContainer(pod, "main");
      // the old ID's cache entry is stale; the runtime no longer knows the container
      expect((await resolver.roots.get(oldId).catch((e: unknown) => e)) as object).toMatchObject({ kind: "not-found" });
      // the API server has not caught up yet: the pod still names the old ID
      expect((await rpcError(client.stat({ container: c, path: "/tmp/marker" }))).code).toBe(Code.NotFound);
      publish(pod);
      // a new container (fresh rootfs): the marker is gone, the new PID serves
      expect((await rpcError(client.stat({ container: c, path: "/tmp/marker" }))).code).toBe(Code.NotFound);
      await upload(client, c, "/tmp/after", enc("after"));
      expect(readFileSync(`/proc/${fresh.pid}/root/tmp/after`, "utf8")).toBe("after");
      expect(resolver.roots.cachedIds()).not.toContain(oldId);
    } finally {
      await removePod(pod);
    }
  });

  it("refuses a stopped container with FAILED_PRECONDITION, from the pod status and from the runtime", async () => {
    const pod = await runPod({ namespace: "team-a", name: "stops", containers: [{ name: "main" }] });
    try {
      publish(pod);
      const c = ref("stops", "main");
      await client.stat({ container: c, path: "/" });
      const id = pod.containers[0]!.id;
      await stopContainer(pod, "main");
      // the API server still says running: the cache must notice by itself
      const direct = await rpcError(client.stat({ container: c, path: "/" }));
      expect(direct.code).toBe(Code.FailedPrecondition);
      expect(direct.rawMessage).toMatch(/not running \(state exited, reason Completed, exit code 0\)/);
      expect(resolver.roots.cachedIds()).not.toContain(id);
      const json = api.pods.get("team-a/stops")!;
      markTerminated(json, "main");
      const err = await rpcError(client.stat({ container: c, path: "/" }));
      expect(err.code).toBe(Code.FailedPrecondition);
      expect(err.rawMessage).toMatch(/terminated \(reason Completed, exit code 0\)/);
    } finally {
      await removePod(pod);
    }
  });

  it("NOT_FOUND for an unknown pod or container, UNAVAILABLE for a pod on another node", async () => {
    expect((await rpcError(client.stat({ container: ref("nope", "main"), path: "/" }))).code).toBe(Code.NotFound);
    const noContainer = await rpcError(client.stat({ container: ref("web", "nope"), path: "/" }));
    expect([noContainer.code, noContainer.rawMessage]).toEqual([Code.NotFound, expect.stringContaining("main, app")]);
    api.pods.set("team-a/elsewhere", { ...podJson(web, "node-b"), metadata: { namespace: "team-a", name: "elsewhere" } });
    const other = await rpcError(client.stat({ container: ref("elsewhere", "main"), path: "/" }));
    expect(other.code).toBe(Code.Unavailable);
    expect(other.rawMessage).toContain("node-b");
  });

  it("reads and writes through a read-only bind mount of /proc, as the DaemonSet mounts /host/proc", async () => {
    const hostProc = join(work, "host-proc");
    mkdirSync(hostProc);
    execFileSync("mount", ["--bind", "/proc", hostProc]);
    try {
      execFileSync("mount", ["-o", "remount,bind,ro", hostProc]);
      expect(() => writeFileSync(join(hostProc, "self", "podfiles-test"), "x")).toThrow();
      const roots = new ContainerRoots({ pids: new CriPidSource(rt.criSocket), procRoot: hostProc });
      const fs = await roots.get(web.containers[1]!.id);
      expect(fs.description).toContain(`pid ${pid(web, "app")}`);
      const w = await fs.createWriter("/tmp/via-ro-proc.txt", { overwrite: "overwrite", offset: 0n, makeParents: false });
      await w.write(enc("written through a read-only /proc mount"));
      expect((await w.commit()).uid).toBe(1000);
      expect(readFileSync(`/proc/${pid(web, "app")}/root/tmp/via-ro-proc.txt`, "utf8")).toBe("written through a read-only /proc mount");
      await roots.close();
    } finally {
      execFileSync("umount", [hostProc]);
    }
  });

  it("UNAVAILABLE naming the runtime socket when it is unreachable", async () => {
    const sock = join(work, "no-runtime.sock");
    const broken = createAgentResolver({
      pods: new KubePodSource(loadKubeConfig({ kubeconfig: join(work, "kubeconfig"), context: "standin" })),
      criSocket: sock,
      procRoot: "/proc",
      nodeName: NODE,
    });
    const err = (await broken.resolve(ref("web", "main")).catch((e: unknown) => e)) as Error & { kind: string };
    expect(err.kind).toBe("unavailable");
    expect(err.message).toContain(`unix:${sock}`);
    await broken.close();
  });
});
