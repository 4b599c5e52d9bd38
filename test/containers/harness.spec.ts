/**
 * The real-container harness: a private containerd (scripts/containers.sh), pods run through the
 * CRI as the kubelet runs them, host PIDs from ContainerStatus(verbose) and the containers' files
 * under /proc/<pid>/root. Needs root (this machine is root).
 */
import { mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CriError, detectCriSocket } from "../../src/cri/client.js";
import { removePod, restartContainer, runPod, startContainerRuntime, stopContainer, type ContainerRuntime, type RunningPod } from "../harness/containers.js";

const isRoot = process.getuid?.() === 0;

function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("Uid:"));
  return Number(line!.split(/\s+/)[1]);
}

describe.skipIf(!isRoot)("real containers through the CRI", { timeout: 120_000 }, () => {
  let rt: ContainerRuntime;
  let pod: RunningPod;
  let hostDir: string;

  beforeAll(async () => {
    rt = await startContainerRuntime();
    console.log(`containers.sh up took ${rt.upSeconds.toFixed(2)} s`);
    hostDir = mkdtempSync(join(tmpdir(), "podfiles-hostpath-"));
    writeFileSync(join(hostDir, "hello.txt"), "hello from the host\n");
    pod = await runPod({
      namespace: "team-a",
      name: "web-0",
      containers: [
        { name: "main", mounts: [{ hostPath: hostDir, containerPath: "/data", readonly: true }] },
        { name: "app", user: 1000 },
      ],
    });
    console.log(`runPod (sandbox + 2 containers) took ${pod.startMs.toFixed(0)} ms`);
  }, 600_000);

  afterAll(async () => {
    if (pod) await removePod(pod).catch(() => undefined);
    await rt?.stop();
    if (hostDir) rmSync(hostDir, { recursive: true, force: true });
  }, 120_000);

  it("reports a host PID whose root is the image", async () => {
    for (const c of pod.containers) {
      const st = await rt.client.containerStatus(c.id, true);
      expect(st.state).toBe("CONTAINER_RUNNING");
      expect(st.pid).toBe(c.pid);
      expect(st.pid).toBeGreaterThan(0);
      expect(readFileSync(`/proc/${st.pid}/root/etc/passwd`, "utf8")).toContain("app:x:1000:1000:");
      // the host's passwd is not the image's
      expect(readFileSync("/etc/passwd", "utf8")).not.toContain("app:x:1000:1000:app:/home/app");
    }
  });

  it("sets the kubelet's metadata, labels and cgroup parent", async () => {
    const st = await rt.client.containerStatus(pod.containers[1]!.id, true);
    expect(st.name).toBe("app");
    expect(st.labels).toMatchObject({
      "io.kubernetes.pod.namespace": "team-a",
      "io.kubernetes.pod.name": "web-0",
      "io.kubernetes.pod.uid": pod.uid,
      "io.kubernetes.container.name": "app",
    });
    expect(st.sandboxId).toBe(pod.podSandboxId);
    expect(st.cgroupsPath).toBe(`${rt.cgroupParent}/pod${pod.uid}/${st.id}`);
    const [sandbox] = await rt.client.listPodSandbox({ id: pod.podSandboxId });
    expect(sandbox!.metadata).toMatchObject({ namespace: "team-a", name: "web-0", uid: pod.uid });
    const listed = await rt.client.listContainers({ labelSelector: { "io.kubernetes.pod.uid": pod.uid } });
    expect(listed.map((c) => c.name).sort()).toEqual(["app", "main"]);
  });

  it("runs as the requested user", () => {
    expect(uidOf(pod.containers[0]!.pid)).toBe(0);
    expect(uidOf(pod.containers[1]!.pid)).toBe(1000);
  });

  it("gives each container its own PID and mount namespace", () => {
    const [a, b] = pod.containers;
    expect(a!.pid).not.toBe(b!.pid);
    const hostMnt = readlinkSync("/proc/self/ns/mnt");
    const mntA = readlinkSync(`/proc/${a!.pid}/ns/mnt`);
    const mntB = readlinkSync(`/proc/${b!.pid}/ns/mnt`);
    expect(mntA).not.toBe(hostMnt);
    expect(mntB).not.toBe(hostMnt);
    expect(mntA).not.toBe(mntB);
  });

  it("shows a hostPath mount under /proc/<pid>/root", () => {
    const main = pod.containers[0]!;
    expect(readFileSync(`/proc/${main.pid}/root/data/hello.txt`, "utf8")).toBe("hello from the host\n");
    // not in the other container
    expect(() => readFileSync(`/proc/${pod.containers[1]!.pid}/root/data/hello.txt`)).toThrow();
  });

  it("gives a restarted container a new ID and PID", async () => {
    const before = pod.containers.find((c) => c.name === "main")!;
    const after = await restartContainer(pod, "main");
    expect(after.id).not.toBe(before.id);
    expect(after.pid).not.toBe(before.pid);
    expect(after.attempt).toBe(1);
    expect(readFileSync(`/proc/${after.pid}/root/data/hello.txt`, "utf8")).toBe("hello from the host\n");
    const gone = await rt.client.containerStatus(before.id).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(CriError);
    expect((gone as CriError).code).toBe(5); // NOT_FOUND
  });

  it("reports a stopped container as EXITED", async () => {
    const app = pod.containers.find((c) => c.name === "app")!;
    const t0 = performance.now();
    await stopContainer(pod, "app", 10);
    // PID 1 traps SIGTERM and exits at once: no waiting for the stop timeout
    expect(performance.now() - t0).toBeLessThan(5000);
    const st = await rt.client.containerStatus(app.id, true);
    expect(st.state).toBe("CONTAINER_EXITED");
    expect(st.exitCode).toBe(0);
  });

  it("detectCriSocket finds the private socket among candidates", async () => {
    const found = await detectCriSocket(["/nonexistent/podfiles/a.sock", rt.criSocket]);
    expect(found.socketPath).toBe(rt.criSocket);
  });

  it("detectCriSocket names every socket it tried when none answers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podfiles-detect-"));
    try {
      const plain = join(dir, "not-a-socket.sock");
      writeFileSync(plain, "");
      const candidates = [join(dir, "missing.sock"), plain, "/nonexistent/crio.sock"];
      const err = (await detectCriSocket(candidates, { timeoutMs: 500 }).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      for (const c of candidates) expect(err.message).toContain(c);
      expect(err.message).toMatch(/no CRI runtime answered/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
