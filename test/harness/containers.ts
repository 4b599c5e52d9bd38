/**
 * Real containers for vitest suites: a private containerd (scripts/containers.sh) and pods run
 * through the CRI the way the kubelet runs them (sandbox and container metadata, the kubelet's
 * io.kubernetes.* labels, a per-pod cgroup parent, log paths), with host networking so no CNI is
 * needed.
 *
 *   const rt = await startContainerRuntime();          // containers.sh up, once per process
 *   const pod = await runPod({ namespace: "ns", name: "p", containers: [{ name: "app", user: 1000 }] });
 *   pod.containers[0].pid                               // host PID: /proc/<pid>/root is the container's /
 *   await removePod(pod);
 *   await rt.stop();                                    // containers.sh down --lease <pid>
 *
 * Needs root. Several test processes may share the runtime: each takes a lease, and the last one
 * to stop shuts containerd down.
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, rmdirSync, existsSync, readdirSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { CriTestClient, type ContainerConfig, type CriMount, type PodSandboxConfig } from "./cri-test-client.js";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CONTAINERS_SH = join(REPO_ROOT, "scripts/containers.sh");

export const BUSYBOX_IMAGE = "localhost/podfiles-busybox:1";
export const PAUSE_IMAGE = "localhost/podfiles-pause:1";

/** PID 1 of a default container: sleeps until SIGTERM, then exits 0 at once. */
export const SLEEP_COMMAND = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"];

export interface ContainerRuntime {
  criSocket: string;
  stateDir: string;
  cgroupParent: string;
  client: CriTestClient;
  /** Seconds `containers.sh up` took in this process. */
  upSeconds: number;
  /** Removes the pods this process started, drops the lease; the last lease holder runs `down`. */
  stop(): Promise<void>;
}

export interface MountSpec {
  hostPath: string;
  containerPath: string;
  readonly?: boolean;
}

export interface ContainerSpec {
  name: string;
  /** default localhost/podfiles-busybox:1 */
  image?: string;
  /** run_as_user (and run_as_group, same value, unless group is given) */
  user?: number;
  group?: number;
  /** default SLEEP_COMMAND */
  command?: string[];
  args?: string[];
  env?: Record<string, string>;
  mounts?: MountSpec[];
  workingDir?: string;
}

export interface PodSpec {
  namespace: string;
  name: string;
  /** default: a random UUID, as the API server assigns */
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  containers: ContainerSpec[];
}

export interface RunningContainer {
  name: string;
  id: string;
  /** host PID of the container's PID 1 when it was started */
  pid: number;
  attempt: number;
  spec: ContainerSpec;
}

export interface RunningPod {
  namespace: string;
  name: string;
  uid: string;
  podSandboxId: string;
  sandboxConfig: PodSandboxConfig;
  containers: RunningContainer[];
  /** ms RunPodSandbox + CreateContainer + StartContainer (all containers) + status took */
  startMs: number;
}

let runtime: Promise<ContainerRuntime> | undefined;
const ownPods = new Set<RunningPod>();

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { env: { ...process.env, ...env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stderr}`));
      else resolvePromise({ stdout, stderr });
    });
  });
}

function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

/**
 * Runs `scripts/containers.sh up` (once per process; later calls return the same runtime) and
 * connects a CriTestClient to the private containerd.
 */
export function startContainerRuntime(): Promise<ContainerRuntime> {
  runtime ??= (async () => {
    if (process.getuid?.() !== 0) throw new Error("real containers need root");
    const t0 = performance.now();
    const { stdout } = await run("bash", [CONTAINERS_SH, "up"], { PODFILES_CONTAINERS_LEASE: String(process.pid) });
    const upSeconds = (performance.now() - t0) / 1000;
    const env = parseEnv(stdout);
    const criSocket = env["CRI_SOCKET"];
    const stateDir = env["PODFILES_CONTAINERS_DIR"];
    const cgroupParent = env["PODFILES_CGROUP_PARENT"];
    if (!criSocket || !stateDir || !cgroupParent) throw new Error(`containers.sh up printed no env:\n${stdout}`);
    const client = await CriTestClient.connect(criSocket, { timeoutMs: 10_000 });
    let stopped = false;
    const rt: ContainerRuntime = {
      criSocket,
      stateDir,
      cgroupParent,
      client,
      upSeconds,
      async stop() {
        if (stopped) return;
        stopped = true;
        for (const pod of [...ownPods]) await removePod(pod).catch(() => undefined);
        client.close();
        runtime = undefined;
        await run("bash", [CONTAINERS_SH, "down", "--lease", String(process.pid)]);
      },
    };
    return rt;
  })();
  runtime.catch(() => {
    runtime = undefined;
  });
  return runtime;
}

function kubeletContainerConfig(pod: RunningPod | { namespace: string; name: string; uid: string }, spec: ContainerSpec, attempt: number): ContainerConfig {
  const image = spec.image ?? BUSYBOX_IMAGE;
  const mounts: CriMount[] = (spec.mounts ?? []).map((m) => ({
    containerPath: m.containerPath,
    hostPath: m.hostPath,
    readonly: m.readonly ?? false,
    propagation: "PROPAGATION_PRIVATE",
  }));
  const securityContext: NonNullable<ContainerConfig["linux"]>["securityContext"] = {
    namespaceOptions: { network: "NODE", pid: "CONTAINER", ipc: "POD" },
  };
  if (spec.user !== undefined) {
    securityContext.runAsUser = { value: spec.user };
    securityContext.runAsGroup = { value: spec.group ?? spec.user };
  } else if (spec.group !== undefined) {
    securityContext.runAsGroup = { value: spec.group };
  }
  return {
    metadata: { name: spec.name, attempt },
    image: { image, userSpecifiedImage: image },
    command: spec.command ?? SLEEP_COMMAND,
    args: spec.args ?? [],
    workingDir: spec.workingDir ?? "",
    envs: Object.entries(spec.env ?? {}).map(([key, value]) => ({ key, value })),
    mounts,
    labels: {
      "io.kubernetes.container.name": spec.name,
      "io.kubernetes.pod.name": pod.name,
      "io.kubernetes.pod.namespace": pod.namespace,
      "io.kubernetes.pod.uid": pod.uid,
    },
    annotations: {
      "io.kubernetes.container.restartCount": String(attempt),
      "io.kubernetes.container.terminationMessagePolicy": "File",
      "io.kubernetes.pod.terminationGracePeriod": "30",
    },
    // the kubelet's layout: <pod log dir>/<container>/<restart count>.log
    logPath: `${spec.name}/${attempt}.log`,
    linux: { securityContext },
  };
}

async function startOne(rt: ContainerRuntime, pod: RunningPod, spec: ContainerSpec, attempt: number): Promise<RunningContainer> {
  mkdirSync(join(pod.sandboxConfig.logDirectory!, spec.name), { recursive: true });
  const config = kubeletContainerConfig(pod, spec, attempt);
  const id = await rt.client.createContainer(pod.podSandboxId, config, pod.sandboxConfig);
  await rt.client.startContainer(id);
  const status = await rt.client.containerStatus(id, true);
  if (status.state !== "CONTAINER_RUNNING" || !status.pid) {
    throw new Error(`container ${spec.name} (${id}) is ${status.state} (pid ${status.pid}, exit ${status.exitCode}, ${status.reason} ${status.message})`);
  }
  return { name: spec.name, id, pid: status.pid, attempt, spec };
}

/** Runs a pod sandbox (host network) and its containers, as the kubelet would. */
export async function runPod(spec: PodSpec): Promise<RunningPod> {
  const rt = await startContainerRuntime();
  const t0 = performance.now();
  const uid = spec.uid ?? randomUUID();
  const logDirectory = join(rt.stateDir, "pod-logs", `${spec.namespace}_${spec.name}_${uid}`);
  mkdirSync(logDirectory, { recursive: true });
  const sandboxConfig: PodSandboxConfig = {
    metadata: { name: spec.name, uid, namespace: spec.namespace, attempt: 0 },
    // host network: no hostname (the runtime rejects one with NamespaceMode NODE)
    logDirectory,
    labels: {
      ...spec.labels,
      "io.kubernetes.pod.name": spec.name,
      "io.kubernetes.pod.namespace": spec.namespace,
      "io.kubernetes.pod.uid": uid,
    },
    annotations: {
      ...spec.annotations,
      "kubernetes.io/config.source": "api",
      "kubernetes.io/config.seen": new Date().toISOString(),
    },
    linux: {
      cgroupParent: `${rt.cgroupParent}/pod${uid}`,
      securityContext: { namespaceOptions: { network: "NODE", pid: "CONTAINER", ipc: "POD" } },
    },
  };
  const podSandboxId = await rt.client.runPodSandbox(sandboxConfig);
  const pod: RunningPod = {
    namespace: spec.namespace,
    name: spec.name,
    uid,
    podSandboxId,
    sandboxConfig,
    containers: [],
    startMs: 0,
  };
  ownPods.add(pod);
  try {
    for (const c of spec.containers) pod.containers.push(await startOne(rt, pod, c, 0));
  } catch (err) {
    await removePod(pod).catch(() => undefined);
    throw err;
  }
  pod.startMs = performance.now() - t0;
  return pod;
}

function findContainer(pod: RunningPod, name: string): RunningContainer {
  const c = pod.containers.find((x) => x.name === name);
  if (!c) throw new Error(`pod ${pod.namespace}/${pod.name} has no container ${name}`);
  return c;
}

/** Stops a container (SIGTERM, SIGKILL after timeoutSeconds); it stays in the pod, EXITED. */
export async function stopContainer(pod: RunningPod, name: string, timeoutSeconds = 5): Promise<void> {
  const rt = await startContainerRuntime();
  await rt.client.stopContainer(findContainer(pod, name).id, timeoutSeconds);
}

/**
 * Restarts a container as the kubelet does: stop, remove, create again with the same name and
 * attempt + 1, start. The container gets a new ID and a new PID; pod.containers is updated.
 */
export async function restartContainer(pod: RunningPod, name: string, timeoutSeconds = 5): Promise<RunningContainer> {
  const rt = await startContainerRuntime();
  const old = findContainer(pod, name);
  await rt.client.stopContainer(old.id, timeoutSeconds);
  await rt.client.removeContainer(old.id);
  const fresh = await startOne(rt, pod, old.spec, old.attempt + 1);
  pod.containers[pod.containers.indexOf(old)] = fresh;
  return fresh;
}

function cgroupMounts(): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep > 0 && (fields[sep + 1] === "cgroup" || fields[sep + 1] === "cgroup2")) out.push(fields[4]!);
  }
  return out;
}

function removeCgroupTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  rmdirSync(dir);
}

/** Stops and removes the pod sandbox and its containers, its log dir and its pod-level cgroups. */
export async function removePod(pod: RunningPod): Promise<void> {
  const rt = await startContainerRuntime();
  await rt.client.stopPodSandbox(pod.podSandboxId);
  await rt.client.removePodSandbox(pod.podSandboxId);
  ownPods.delete(pod);
  if (pod.sandboxConfig.logDirectory) rmSync(pod.sandboxConfig.logDirectory, { recursive: true, force: true });
  // runc removes only the containers' leaf cgroups; the pod level is the kubelet's to remove
  const podCgroup = pod.sandboxConfig.linux?.cgroupParent;
  if (podCgroup) {
    for (const mnt of cgroupMounts()) {
      try {
        removeCgroupTree(join(mnt, podCgroup));
      } catch {
        // busy or already gone: containers.sh down removes the whole parent
      }
    }
  }
}
