#!/usr/bin/env node
// Figure 6 of the benchmark: `kubectl cp` out of a pod against a podfiles download of the same file
// from the same pod, in the same run, on the real cluster of scripts/cluster.sh: direct to the agent
// (--server) and through the API server with only a kubeconfig (the CLI's own pods/portforward tunnel).
//
//   node bench/kubectl-cp.mjs [--size MiB] [--reps N] [--up] [--worktree]
//
// The code measured is a snapshot of HEAD (--worktree: of the working tree) in a temporary
// directory, where the CLI is compiled and scripts/images.sh builds the agent image: others edit
// src/ and rebuild dist/ while a run goes on.
// The agent is deployed the way test/e2e/agent.spec.ts deploys it: deploy/ through test/e2e/overlay,
// with a per-run kustomization (port, CRI socket dir, API server port) in a temporary directory, and
// the image of `scripts/images.sh agent` imported into containerd's k8s.io namespace. A busybox pod
// gets a file of random bytes in an emptyDir; then, interleaved, `kubectl cp ns/pod:/data/file LOCAL`
// and `podfiles get ns/pod/main:/data/file LOCAL` (the project's CLI, through the agent, with a
// `kubectl create token` token) are timed as whole commands, and each local copy is checked
// against `sha256sum` in the pod. The local copies go to /dev/shm (tmpfs) when it exists, so that
// neither side pays for the local disk (podfiles get fsyncs its file; kubectl cp does not).
//
// Without a cluster (scripts/cluster.sh status fails) the result is "not measured" unless --up
// is given; a cluster this script started is taken down at the end, one it found is left up.
// Everything it creates (namespaces, cluster objects, temporary directories) is deleted at the
// end, on failure and on SIGINT/SIGTERM too. Every child process has a deadline, and so does the run.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MiB, median, repoDir as defaultRepoDir } from "./lib.mjs";

const AGENT_NS = "podfiles"; // deploy/kustomization.yaml
const NS = "podfiles-bench-kcp";
const POD = "kcp";
const CONTAINER = "main";
const REMOTE_FILE = "/data/file";
const OWNER_LABEL = "podfiles.io/e2e"; // the label test/e2e/overlay puts on the agent's namespace
const OWNER_VALUE = "bench-kubectl-cp"; // ours; the e2e suite refuses to touch a namespace with another value
const BUSYBOX = "localhost/podfiles-busybox:1";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------------
// Child processes: each one gets its own process group (killed as a group on timeout or abort).
// ------------------------------------------------------------------------------------------------
const live = new Set();
let aborted = false;

function killGroup(child) {
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    try {
      child.kill("SIGKILL");
    } catch {}
  }
}

/** Kills every child still running (SIGINT/SIGTERM); later non-cleanup steps refuse to start. */
export function abortAll() {
  aborted = true;
  for (const c of live) killGroup(c);
}

/**
 * Runs cmd; resolves {code, stdout, stderr, ms}. Rejects on a non-zero exit unless check is false,
 * and after timeoutMs (the process group is killed).
 */
function sh(cmd, args, { timeoutMs, input, env, check = true, cleanup = false, binary = false, onStderr } = {}) {
  if (!timeoutMs) throw new Error("sh: no timeout");
  if (aborted && !cleanup) return Promise.reject(new Error("aborted"));
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: env ?? process.env, detached: true });
    live.add(child);
    const out = [];
    let stderr = "";
    let timedOut = false;
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.setEncoding("utf8").on("data", (d) => {
      stderr = (stderr + d).slice(-8000);
      onStderr?.(d);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    const label = `${path.basename(cmd)} ${args.join(" ").slice(0, 160)}`;
    child.on("error", (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`${label}: ${e.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const ms = performance.now() - t0;
      const stdout = binary ? Buffer.concat(out) : Buffer.concat(out).toString("utf8");
      if (timedOut) return reject(new Error(`${label}: timed out after ${Math.round(timeoutMs / 1000)} s`));
      if (check && code !== 0) {
        return reject(new Error(`${label}: exit ${code ?? signal}: ${stderr.trim().split("\n").slice(-4).join(" | ")}`));
      }
      resolve({ code, stdout, stderr, ms });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(input ?? "");
  });
}

/** Polls fn until it returns a value other than undefined (errors count as "not yet"). */
async function until(what, fn, timeoutMs, stepMs = 500) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    if (aborted) throw new Error("aborted");
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? `: ${last.message}` : ""}`);
    await sleep(stepMs);
  }
}

function portFree(port, host) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function sha256File(file) {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 4 * MiB })) h.update(chunk);
  return h.digest("hex");
}

function parseEnv(text) {
  const out = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** `/usr/bin/time -f "%U %S %M" -o FILE` around a command: its user+sys CPU, children included, and its peak RSS (KiB). */
const TIME = existsSync("/usr/bin/time") ? "/usr/bin/time" : null;

/** The cluster's own processes whose CPU a copy costs (every node's: the pod is on node A, node B's stay idle). */
const SERVER_SIDE = { apiserver: /^kube-apiserver\b/, kubelet: /^kubelet\b/, agent: /podfiles\.js agent\b/ };
const TICK = 100; // USER_HZ
/** CPU seconds (user + sys) used so far by the processes matching each pattern, from /proc/<pid>/stat. */
function serverSideCpu() {
  const sums = Object.fromEntries(Object.keys(SERVER_SIDE).map((k) => [k, 0]));
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      const name = path.basename(cmdline.split(" ")[0] ?? "") + cmdline.slice(cmdline.indexOf(" "));
      const which = Object.keys(SERVER_SIDE).find((k) => SERVER_SIDE[k].test(k === "agent" ? cmdline : name));
      if (!which) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      sums[which] += (Number(fields[11]) + Number(fields[12])) / TICK; // utime, stime
    } catch {
      // the process ended while being read
    }
  }
  return sums;
}
function readTime(file) {
  try {
    const m = /(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(\d+)\s*$/.exec(readFileSync(file, "utf8").trim());
    return m ? { cpu: Number(m[1]) + Number(m[2]), rssMiB: Number(m[3]) / 1024 } : { cpu: null, rssMiB: null };
  } catch {
    return { cpu: null, rssMiB: null };
  }
}

/**
 * Measures figure 6. Returns {status: "measured"|"not measured", note?, sizeMiB, kubectlCpMiBps,
 * podfilesMiBps, ratio (podfiles ÷ kubectl cp), kubectlCpSeconds, podfilesSeconds, ...}.
 * Throws when something fails after the cluster was found (everything created is removed first).
 */
export async function measureKubectlCp({
  repoDir = defaultRepoDir,
  sizeMiB = 256,
  reps = 3,
  up = false,
  worktree = false,
  log = (m) => process.stderr.write(`[kubectl-cp] ${m}\n`),
} = {}) {
  repoDir = path.resolve(repoDir);
  if (!(sizeMiB > 0) || !Number.isInteger(reps) || reps < 1) throw new Error(`bad size ${sizeMiB} MiB or reps ${reps}`);
  const bytes = Math.round(sizeMiB * MiB);
  const result = {
    status: "not measured",
    sizeMiB,
    reps,
    kubectlCpMiBps: null,
    podfilesMiBps: null,
    ratio: null,
    kubectlCpSeconds: [],
    podfilesSeconds: [],
    kubectlCpCpuSeconds: [],
    podfilesCpuSeconds: [],
    tunnelMiBps: null,
    tunnelRatio: null,
    tunnelSeconds: [],
    tunnelCpuSeconds: [],
    kubectlCpRssMiB: [],
    podfilesRssMiB: [],
    tunnelRssMiB: [],
    // the same tunnel over SPDY (PODFILES_TUNNEL_PROTOCOL=spdy), the API server's pass-through path
    spdyMiBps: null,
    spdyRatio: null,
    spdySeconds: [],
    spdyCpuSeconds: [],
    spdyRssMiB: [],
  };
  const clusterSh = path.join(repoDir, "scripts/cluster.sh");
  const cache = process.env.PODFILES_CACHE ?? path.join(os.homedir(), ".cache/podfiles");
  // per transfer: 30 s + the time at 5 MiB/s; the whole run: 6 min of setup + every transfer
  const transferMs = 30_000 + (sizeMiB / 5) * 1000;
  const deadline = Date.now() + 360_000 + 2 * reps * transferMs;
  const budget = (ms) => {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error("the run's time budget is spent");
    return Math.min(ms, left);
  };

  const cleanups = []; // run last-in first-out in finally
  let startedCluster = false;
  const t0 = Date.now();
  let t = t0;
  try {
    // ---------------------------------------------------------------- the cluster
    const status = await sh("bash", [clusterSh, "status"], { timeoutMs: 30_000, check: false });
    if (status.code !== 0) {
      if (!up) {
        result.note = "not measured: no cluster (scripts/cluster.sh status reports none running; --up starts one)";
        return result;
      }
    }

    // ---------------------------------------------------------------- the code measured
    // Others edit src/ (and rebuild dist/) while this runs, and scripts/images.sh builds the agent
    // from the tree it sits in: agent image and CLI are both built from one snapshot, of HEAD (or
    // of the working tree with worktree: true), taken once at the start.
    t = Date.now();
    const snap = mkdtempSync(path.join(os.tmpdir(), "podfiles-bench-kcp-"));
    cleanups.push(() => rmSync(snap, { recursive: true, force: true }));
    const git = (args) => sh("git", ["-C", repoDir, ...args], { timeoutMs: 30_000 }).then((r) => r.stdout.trim());
    result.commit = await git(["rev-parse", "--short", "HEAD"]);
    const dirty =
      (await git([
        "status",
        "--porcelain",
        "--",
        "src",
        "gen",
        "bin",
        "scripts",
        "deploy",
        "test/e2e",
        "package.json",
        "package-lock.json",
        "tsconfig.json",
        "native",
      ])) !== "";
    if (worktree) {
      const files = (await git(["ls-files", "-co", "--exclude-standard", "-z"])).split("\0").filter((f) => f && existsSync(path.join(repoDir, f)));
      for (const f of files) cpSync(path.join(repoDir, f), path.join(snap, f), { recursive: true, verbatimSymlinks: true });
      result.source = `working tree at ${result.commit}${dirty ? " with uncommitted changes" : ""}`;
    } else {
      await sh("bash", ["-c", 'set -o pipefail; git -C "$1" archive HEAD | tar -x -C "$2"', "_", repoDir, snap], { timeoutMs: 60_000 });
      result.source = `HEAD ${result.commit}${dirty ? " (uncommitted changes in the working tree not measured)" : ""}`;
    }
    // node_modules as hard links (nothing here writes into it: tsc only reads), the built addon as a copy
    if (!existsSync(path.join(repoDir, "node_modules/.bin/tsc"))) throw new Error("no node_modules in the repo: run npm install first");
    await sh("cp", ["-al", path.join(repoDir, "node_modules"), path.join(snap, "node_modules")], { timeoutMs: 120_000 });
    const addon = path.join(repoDir, "native/openat2/build");
    if (existsSync(addon)) cpSync(addon, path.join(snap, "native/openat2/build"), { recursive: true });
    await sh("git", ["-C", snap, "init", "-q"], { timeoutMs: 15_000 }); // images.sh lists its inputs with git ls-files
    await sh(process.execPath, [path.join(snap, "node_modules/typescript/bin/tsc"), "-p", path.join(snap, "tsconfig.json")], { timeoutMs: budget(300_000) });
    const cliBin = path.join(snap, "bin/podfiles.js");
    log(`${result.source}: snapshot in ${snap}, CLI compiled (${((Date.now() - t) / 1000).toFixed(1)} s)`);

    if (status.code !== 0) {
      log("no cluster running: scripts/cluster.sh up (from the snapshot, so that it imports the snapshot's agent image)");
      startedCluster = true; // a half-started cluster is taken down too
      await sh("bash", [path.join(snap, "scripts/cluster.sh"), "up"], { timeoutMs: budget(300_000), onStderr: (d) => process.stderr.write(d) });
    } else {
      log("using the running cluster (left up at the end)");
    }
    const vars = parseEnv((await sh("bash", [clusterSh, "env"], { timeoutMs: 15_000 })).stdout);
    const binDir = vars.PATH.replace(/:\$PATH$/, "");
    const kubeconfig = vars.KUBECONFIG;
    const criSocket = vars.CRI_SOCKET;
    // scripts/cluster.sh runs two nodes by default: the pod and the agent measured are node A's, at node A's address
    const nodes = JSON.parse(readFileSync(vars.PODFILES_CLUSTER_NODES_FILE, "utf8"));
    const nodeA = nodes[0];
    const kubectlBin = path.join(binDir, "kubectl");
    for (const f of [kubeconfig, kubectlBin]) if (!existsSync(f)) throw new Error(`scripts/cluster.sh env names ${f}, which does not exist`);
    const env = { ...process.env, KUBECONFIG: kubeconfig, KUBECACHEDIR: vars.KUBECACHEDIR, PATH: `${binDir}:${process.env.PATH ?? ""}` };
    const kubectl = async (args, { timeoutMs = 60_000, ...opts } = {}) =>
      (await sh(kubectlBin, ["--kubeconfig", kubeconfig, ...args], { env, ...opts, timeoutMs: opts.cleanup ? timeoutMs : budget(timeoutMs) })).stdout;
    const nsLabels = async (name, cleanup = false) => {
      const out = await kubectl(["get", "namespace", name, "--ignore-not-found", "-o", "json"], { cleanup });
      return out.trim() ? (JSON.parse(out).metadata?.labels ?? {}) : undefined;
    };

    // The agent's namespace is fixed by deploy/ ("podfiles"): take it only if it is free or ours.
    const agentLabels = await nsLabels(AGENT_NS);
    if (agentLabels && agentLabels[OWNER_LABEL] !== OWNER_VALUE) {
      result.note = `not measured: namespace ${AGENT_NS} exists and is not this benchmark's (${OWNER_LABEL}=${agentLabels[OWNER_LABEL] ?? "unset"}; the e2e suite may be running)`;
      return result;
    }
    const podLabels = await nsLabels(NS);
    if (podLabels && podLabels[OWNER_LABEL] !== OWNER_VALUE) {
      result.note = `not measured: namespace ${NS} exists and is not this benchmark's`;
      return result;
    }

    // ---------------------------------------------------------------- the agent image
    t = Date.now();
    log("agent image: scripts/images.sh agent (cached unless the sources changed) + ctr import");
    const tar = (await sh("bash", [path.join(snap, "scripts/images.sh"), "agent", path.join(cache, "images")], { timeoutMs: budget(300_000) })).stdout.trim();
    for (const n of nodes) await sh("ctr", ["-a", n.criSocket, "-n", "k8s.io", "images", "import", tar], { timeoutMs: budget(120_000) });
    log(`agent image ready (${((Date.now() - t) / 1000).toFixed(1)} s)`);

    // ---------------------------------------------------------------- the per-run kustomization
    const port = (await portFree(8080, "0.0.0.0")) && (await portFree(8080, "127.0.0.1")) ? 8080 : await freePort();
    // The agent listens on 127.0.0.1 of its node (node A: the host) instead of the overlay's POD_IP:
    // pods/portforward dials localhost inside the pod's network namespace, which for these hostNetwork
    // agents is the node's, so the tunnel row needs loopback; the direct row reaches the same agent there.
    const agentUrl = `http://127.0.0.1:${port}`;
    const apiserver = new URL(JSON.parse(await kubectl(["config", "view", "--minify", "-o", "json"])).clusters[0].cluster.server);
    // test/e2e/overlay (of the snapshot) with what depends on this run, as test/e2e/agent.spec.ts does
    const runDir = path.join(snap, "test/e2e/.run/bench-kubectl-cp");
    mkdirSync(runDir, { recursive: true });
    const dsPatch = [
      { op: "replace", path: "/spec/template/spec/containers/0/args/1", value: `--port=${port}` },
      { op: "replace", path: "/spec/template/spec/containers/0/ports/0/containerPort", value: port },
      { op: "replace", path: "/spec/template/spec/volumes/1/hostPath/path", value: path.dirname(criSocket) },
      // test first: an env added before it in deploy/ shifts the index (POD_NAMESPACE did, and this row replaced the host)
      { op: "test", path: "/spec/template/spec/containers/0/env/3/name", value: "KUBERNETES_SERVICE_PORT" },
      { op: "replace", path: "/spec/template/spec/containers/0/env/3/value", value: apiserver.port || "443" },
      { op: "test", path: "/spec/template/spec/containers/0/args/2", value: "--host=$(POD_IP)" },
      { op: "replace", path: "/spec/template/spec/containers/0/args/2", value: "--host=127.0.0.1" },
    ];
    const nsPatch = [{ op: "replace", path: `/metadata/labels/${OWNER_LABEL.replace("/", "~1")}`, value: OWNER_VALUE }];
    writeFileSync(
      path.join(runDir, "kustomization.yaml"),
      [
        "# generated by bench/kubectl-cp.mjs for one run; deleted after it",
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        "  - ../../overlay",
        "patches:",
        "  - target: { group: apps, version: v1, kind: DaemonSet, name: podfiles-agent }",
        `    patch: '${JSON.stringify(dsPatch)}'`,
        `  - target: { version: v1, kind: Namespace, name: ${AGENT_NS} }`,
        `    patch: '${JSON.stringify(nsPatch)}'`,
        "",
      ].join("\n"),
    );
    const rendered = await kubectl(["kustomize", runDir]);
    if (
      !rendered.includes(`- --port=${port}`) ||
      !/name: KUBERNETES_SERVICE_PORT\n\s+value: "\d+"/.test(rendered) ||
      !rendered.includes(`${OWNER_LABEL}: ${OWNER_VALUE}`)
    ) {
      throw new Error(`the kustomization in ${runDir} does not render as expected (did deploy/ or test/e2e/overlay change?)`);
    }

    // Removal of everything in the cluster: registered before anything is created; it also removes
    // what a killed run left behind (both namespaces carry our label, checked above).
    const deleteAll = () =>
      Promise.all([
        kubectl(["delete", "-k", runDir, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000, cleanup: true }),
        kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000, cleanup: true }),
      ]);
    cleanups.push(async () => {
      const c0 = Date.now();
      await deleteAll();
      log(`deleted namespaces ${AGENT_NS} and ${NS} and the agent's cluster-wide RBAC (${((Date.now() - c0) / 1000).toFixed(1)} s)`);
    });
    if (agentLabels || podLabels) {
      log("removing what an earlier run left behind");
      await deleteAll();
    }

    // ---------------------------------------------------------------- deploy/ for real + the pod
    t = Date.now();
    await kubectl(["apply", "-k", runDir]);
    await kubectl(["create", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: NS, labels: { [OWNER_LABEL]: OWNER_VALUE } } }),
    });
    await until("the default ServiceAccount in " + NS, () => kubectl(["-n", NS, "get", "serviceaccount", "default"]).then(() => true), budget(90_000));
    // the caller: a ServiceAccount with the read-only Role of deploy/rbac-examples
    await kubectl(["-n", NS, "create", "serviceaccount", "viewer"]);
    const roleYaml = readFileSync(path.join(snap, "deploy/rbac-examples/containerfiles-readonly.yaml"), "utf8").replaceAll(
      "namespace: team-a",
      `namespace: ${NS}`,
    );
    await kubectl(["apply", "-f", "-"], { input: roleYaml });
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: POD, namespace: NS },
      spec: {
        nodeName: nodeA.name,
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: CONTAINER,
            image: BUSYBOX,
            imagePullPolicy: "Never",
            command: ["sh", "-c", 'trap "exit 0" TERM; while true; do sleep 1; done'],
            volumeMounts: [{ name: "data", mountPath: path.dirname(REMOTE_FILE) }],
          },
        ],
        volumes: [{ name: "data", emptyDir: {} }],
      },
    };
    await kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });

    // exec works before the kubelet has reported the container to the API server, and the agent
    // resolves containers from the API's pod status: wait for that
    await until(
      "the pod's container reported running to the API server",
      async () => {
        const p = JSON.parse(await kubectl(["-n", NS, "get", "pod", POD, "-o", "json"]));
        const c = (p.status?.containerStatuses ?? []).find((s) => s.name === CONTAINER);
        return c?.state?.running && c.containerID ? true : undefined;
      },
      budget(120_000),
    );
    const execInPod = (cmd, timeoutMs) => kubectl(["-n", NS, "exec", POD, "-c", CONTAINER, "--", "sh", "-c", cmd], { timeoutMs });
    log(`writing ${sizeMiB} MiB of random bytes to ${NS}/${POD}:${REMOTE_FILE}`);
    await execInPod(`head -c ${bytes} /dev/urandom > ${REMOTE_FILE}`, transferMs);
    const [remoteSize, remoteSha] = (await execInPod(`stat -c %s ${REMOTE_FILE} && sha256sum ${REMOTE_FILE}`, transferMs)).trim().split(/\s+/);
    if (Number(remoteSize) !== bytes || !/^[0-9a-f]{64}$/.test(remoteSha ?? ""))
      throw new Error(`the file in the pod is ${remoteSize} bytes, sha256 "${remoteSha}"`);
    const token = (await kubectl(["-n", NS, "create", "token", "viewer", "--duration=30m"])).trim();
    // the tunnel row's user: the same ServiceAccount with the Roles of deploy/rbac-examples/kubeconfig-tunnel.yaml,
    // in a kubeconfig of its own (its bearer token, no --server)
    const { default: yaml } = await import("js-yaml");
    const tunnelRbac = yaml.loadAll(readFileSync(path.join(snap, "deploy/rbac-examples/kubeconfig-tunnel.yaml"), "utf8")).map((d) => {
      if (d.metadata.namespace === "team-a") d.metadata.namespace = NS;
      if (d.subjects) d.subjects = [{ kind: "ServiceAccount", name: "viewer", namespace: NS }];
      return d;
    });
    await kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: tunnelRbac }) });
    const adminView = JSON.parse(await kubectl(["config", "view", "--minify", "--raw", "-o", "json"]));
    const userKubeconfig = path.join(snap, "viewer.kubeconfig");
    writeFileSync(
      userKubeconfig,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "bench", cluster: adminView.clusters[0].cluster }],
        users: [{ name: "viewer", user: { token } }],
        contexts: [{ name: "bench", context: { cluster: "bench", user: "viewer", namespace: NS } }],
        "current-context": "bench",
      }),
      { mode: 0o600 },
    );

    // the agent: Running and Ready
    await until(
      "the agent pod Running and Ready",
      async () => {
        const list = JSON.parse(await kubectl(["-n", AGENT_NS, "get", "pods", "-l", "app.kubernetes.io/component=agent", "-o", "json"]));
        const p = list.items[0];
        const ready = p?.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";
        return p?.status?.phase === "Running" && ready ? true : undefined;
      },
      budget(120_000),
    );

    // ---------------------------------------------------------------- the podfiles CLI
    const cliEnv = { ...process.env, PODFILES_TOKEN: token };
    const remote = `${NS}/${POD}/${CONTAINER}:${REMOTE_FILE}`;
    const podfiles = (args, timeoutMs) => sh(process.execPath, [cliBin, ...args, "--server", agentUrl], { env: cliEnv, timeoutMs: budget(timeoutMs) });
    // the agent answers, authenticates, authorizes and resolves the pod (first call: CRI detection)
    await until(
      "the agent serving the pod's file",
      async () => ((await podfiles(["stat", "--json", remote], 30_000)).stdout.includes('"size"') ? true : undefined),
      budget(120_000),
      1000,
    );
    const statRun = await podfiles(["stat", "--json", remote], 30_000);
    result.podfilesStatSeconds = statRun.ms / 1000; // one CLI call without data: Node start-up + connection + auth
    log(`agent ready at ${agentUrl} (${((Date.now() - t) / 1000).toFixed(1)} s after apply -k)`);

    // ---------------------------------------------------------------- the measurement
    const localDir = mkdtempSync(path.join(existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir(), "podfiles-bench-kcp-"));
    cleanups.push(() => rmSync(localDir, { recursive: true, force: true }));
    result.localDir = path.dirname(localDir);
    const timed = async (name, cmd, args, env) => {
      const local = args.local;
      rmSync(local, { force: true });
      const cpuFile = path.join(localDir, `${name}.cpu`);
      const argv = TIME ? [TIME, ["-f", "%U %S %M", "-o", cpuFile, cmd, ...args.argv]] : [cmd, args.argv];
      const before = serverSideCpu();
      const r = await sh(argv[0], argv[1], { env, timeoutMs: budget(transferMs) });
      const after = serverSideCpu();
      const serverCpu = Object.fromEntries(Object.keys(after).map((k) => [k, after[k] - before[k]]));
      const { cpu, rssMiB } = TIME ? readTime(cpuFile) : { cpu: null, rssMiB: null };
      const size = statSync(local).size;
      const sha = await sha256File(local);
      rmSync(local, { force: true });
      if (size !== bytes || sha !== remoteSha)
        throw new Error(`${name}: the local copy has ${size} bytes, sha256 ${sha}; the pod's has ${bytes}, ${remoteSha}`);
      return { seconds: r.ms / 1000, cpu, rssMiB, serverCpu };
    };
    const kubectlCp = () =>
      timed(
        "kubectl-cp",
        kubectlBin,
        {
          argv: ["--kubeconfig", kubeconfig, "cp", "-c", CONTAINER, `${NS}/${POD}:${REMOTE_FILE}`, path.join(localDir, "kubectl-cp.bin")],
          local: path.join(localDir, "kubectl-cp.bin"),
        },
        env,
      );
    const podfilesGet = () =>
      timed(
        "podfiles",
        process.execPath,
        {
          argv: [cliBin, "get", "--no-progress", remote, path.join(localDir, "podfiles.bin"), "--server", agentUrl],
          local: path.join(localDir, "podfiles.bin"),
        },
        cliEnv,
      );
    // the same CLI with only the kubeconfig: no --server, no token in the environment (the kubeconfig's),
    // the namespace from the kubeconfig's context
    const tunnelEnv = { ...process.env, KUBECONFIG: userKubeconfig, HOME: localDir };
    delete tunnelEnv.PODFILES_SERVER;
    delete tunnelEnv.PODFILES_TOKEN;
    const tunnelGet = () =>
      timed(
        "tunnel",
        process.execPath,
        {
          argv: [cliBin, "get", "--no-progress", "-c", CONTAINER, `${POD}:${REMOTE_FILE}`, path.join(localDir, "tunnel.bin")],
          local: path.join(localDir, "tunnel.bin"),
        },
        tunnelEnv,
      );
    const spdyGet = () =>
      timed(
        "spdy",
        process.execPath,
        {
          argv: [cliBin, "get", "--no-progress", "-c", CONTAINER, `${POD}:${REMOTE_FILE}`, path.join(localDir, "spdy.bin")],
          local: path.join(localDir, "spdy.bin"),
        },
        { ...tunnelEnv, PODFILES_TUNNEL_PROTOCOL: "spdy" },
      );
    await until(
      "podfiles through the kubeconfig tunnel",
      async () =>
        (
          await sh(process.execPath, [cliBin, "stat", "--json", "-c", CONTAINER, `${POD}:${REMOTE_FILE}`], { env: tunnelEnv, timeoutMs: budget(30_000) })
        ).stdout.includes('"size"')
          ? true
          : undefined,
      budget(60_000),
      1000,
    );
    const rows = {
      kubectl: {
        run: kubectlCp,
        seconds: result.kubectlCpSeconds,
        cpu: result.kubectlCpCpuSeconds,
        rss: result.kubectlCpRssMiB,
        label: "kubectl cp              ",
      },
      podfiles: {
        run: podfilesGet,
        seconds: result.podfilesSeconds,
        cpu: result.podfilesCpuSeconds,
        rss: result.podfilesRssMiB,
        label: "podfiles get (direct)   ",
      },
      tunnel: { run: tunnelGet, seconds: result.tunnelSeconds, cpu: result.tunnelCpuSeconds, rss: result.tunnelRssMiB, label: "podfiles get via tunnel " },
      spdy: { run: spdyGet, seconds: result.spdySeconds, cpu: result.spdyCpuSeconds, rss: result.spdyRssMiB, label: "podfiles get via SPDY   " },
    };
    const names = Object.keys(rows);
    for (let i = 0; i < reps; i++) {
      // interleaved, the order rotating from one repetition to the next
      const order = names.map((_, k) => names[(k + i) % names.length]);
      for (const which of order) {
        const row = rows[which];
        const r = await row.run();
        row.seconds.push(r.seconds);
        row.cpu.push(r.cpu);
        row.rss.push(r.rssMiB);
        (result.serverCpu ??= {})[which] ??= [];
        result.serverCpu[which].push(r.serverCpu);
        const server = Object.entries(r.serverCpu)
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(", ");
        log(
          `rep ${i + 1}/${reps} ${row.label}: ${r.seconds.toFixed(2)} s, ${(sizeMiB / r.seconds).toFixed(0)} MiB/s, client CPU ${r.cpu === null ? "?" : r.cpu.toFixed(2) + " s"}, peak RSS ${r.rssMiB === null ? "?" : r.rssMiB.toFixed(0) + " MiB"}, cluster CPU s: ${server}, SHA-256 ok`,
        );
      }
    }
    result.tunnelMiBps = sizeMiB / median(result.tunnelSeconds);
    result.tunnelRatio = result.tunnelMiBps / (sizeMiB / median(result.kubectlCpSeconds));
    result.spdyMiBps = sizeMiB / median(result.spdySeconds);
    result.spdyRatio = result.spdyMiBps / (sizeMiB / median(result.kubectlCpSeconds));
    result.kubectlCpMiBps = sizeMiB / median(result.kubectlCpSeconds);
    result.podfilesMiBps = sizeMiB / median(result.podfilesSeconds);
    result.ratio = result.podfilesMiBps / result.kubectlCpMiBps;
    if (!TIME) {
      delete result.kubectlCpCpuSeconds;
      delete result.podfilesCpuSeconds;
    } else {
      result.kubectlCpCpuSecondsMedian = median(result.kubectlCpCpuSeconds);
      result.podfilesCpuSecondsMedian = median(result.podfilesCpuSeconds);
      result.tunnelCpuSecondsMedian = median(result.tunnelCpuSeconds);
      result.spdyCpuSecondsMedian = median(result.spdyCpuSeconds);
      result.rssMiBMedian = {
        kubectlCp: median(result.kubectlCpRssMiB),
        podfiles: median(result.podfilesRssMiB),
        tunnel: median(result.tunnelRssMiB),
        spdy: median(result.spdyRssMiB),
      };
    }
    // the cluster side's CPU seconds per GiB, medians per row: what a copy costs the API server, the kubelets and the agents
    result.serverCpuPerGiBMedian = Object.fromEntries(
      Object.entries(result.serverCpu ?? {}).map(([row, reps_]) => [
        row,
        Object.fromEntries(Object.keys(SERVER_SIDE).map((k) => [k, Number((median(reps_.map((x) => x[k])) / (sizeMiB / 1024)).toFixed(2))])),
      ]),
    );
    result.sha256 = remoteSha;
    result.agentUrl = agentUrl;
    result.status = "measured";
    result.note = `whole-command wall time, medians of ${reps} interleaved reps; ${sizeMiB} MiB of random bytes in an emptyDir of a busybox pod; local copies on ${result.localDir}; both checked against sha256sum in the pod`;
    return result;
  } finally {
    // everything created, last first; a failing step does not stop the others
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log(`cleanup: ${err.message}`);
      }
    }
    if (startedCluster) {
      log("taking down the cluster this run started (scripts/cluster.sh down)");
      try {
        await sh("bash", [clusterSh, "down"], { timeoutMs: 180_000, cleanup: true, onStderr: (d) => process.stderr.write(d) });
      } catch (err) {
        log(`scripts/cluster.sh down: ${err.message}`);
      }
    }
    result.seconds = (Date.now() - t0) / 1000;
  }
}

// ------------------------------------------------------------------------------------------------
// node bench/kubectl-cp.mjs [--size MiB] [--reps N] [--up]
// ------------------------------------------------------------------------------------------------
function parseArgs(argv) {
  const o = { sizeMiB: 256, reps: 3, up: false, worktree: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0)) usage(`${a} needs a positive number`);
      return v;
    };
    if (a === "--size") o.sizeMiB = num();
    else if (a === "--reps") o.reps = Math.round(num());
    else if (a === "--up") o.up = true;
    else if (a === "--worktree") o.worktree = true;
    else if (a === "-h" || a === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
  return o;
}
function usage(msg) {
  if (msg) process.stderr.write(`kubectl-cp: ${msg}\n`);
  process.stderr.write("usage: node bench/kubectl-cp.mjs [--size MiB (256)] [--reps N (3)] [--up] [--worktree]\n");
  process.exit(msg ? 2 : 0);
}

const fixed = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? "?" : v.toFixed(d));

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const opts = parseArgs(process.argv.slice(2));
  let signals = 0;
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      if (++signals > 1) process.exit(130);
      process.stderr.write(`[kubectl-cp] ${sig}: stopping and cleaning up (again to quit at once)\n`);
      abortAll();
    });
  }
  try {
    const r = await measureKubectlCp({ ...opts, repoDir: defaultRepoDir });
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    if (r.status === "measured") {
      const cpu =
        r.kubectlCpCpuSecondsMedian !== undefined
          ? `; client CPU kubectl ${fixed(r.kubectlCpCpuSecondsMedian, 2)} s, podfiles ${fixed(r.podfilesCpuSecondsMedian, 2)} s`
          : "";
      process.stdout.write(
        `figure 6: ${r.sizeMiB} MiB, median of ${r.reps}: kubectl cp ${fixed(r.kubectlCpMiBps)} MiB/s, podfiles get ${fixed(r.podfilesMiBps)} MiB/s → ${fixed(r.ratio, 2)}× kubectl cp, podfiles get via kubeconfig tunnel ${fixed(r.tunnelMiBps)} MiB/s → ${fixed(r.tunnelRatio, 2)}× (WebSocket), ${fixed(r.spdyMiBps)} MiB/s → ${fixed(r.spdyRatio, 2)}× (SPDY)${cpu}, tunnel ${fixed(r.tunnelCpuSecondsMedian, 2)} s, SPDY ${fixed(r.spdyCpuSecondsMedian, 2)} s${r.rssMiBMedian ? `; peak RSS kubectl ${fixed(r.rssMiBMedian.kubectlCp)} MiB, direct ${fixed(r.rssMiBMedian.podfiles)} MiB, tunnel ${fixed(r.rssMiBMedian.tunnel)} MiB` : ""}\n`,
      );
      for (const [row, cpu] of Object.entries(r.serverCpuPerGiBMedian ?? {}))
        process.stdout.write(
          `figure 6, cluster CPU s/GiB (${row}): ${Object.entries(cpu)
            .map(([k, v]) => `${k} ${v}`)
            .join(", ")}\n`,
        );
    } else {
      process.stdout.write(`figure 6: ${r.note}\n`);
    }
  } catch (err) {
    if (aborted) {
      process.stderr.write("[kubectl-cp] interrupted; what it had created is removed\n");
      process.exitCode = 130;
    } else {
      process.stderr.write(`[kubectl-cp] failed: ${err.stack ?? err}\n`);
      process.exitCode = 1;
    }
  }
}
