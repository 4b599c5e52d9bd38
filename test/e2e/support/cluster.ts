// Helpers for end-to-end suites that run against the real cluster of scripts/cluster.sh (two nodes by
// default: `localhost` on the host and `node-b` in a network namespace; PODFILES_NODES=1 for one).
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const clusterScript = path.join(repoRoot, "scripts/cluster.sh");

/** One node of the cluster, as scripts/cluster.sh wrote it to $STATE/nodes.json. */
export interface ClusterNode {
  /** node name (`localhost`, `node-b`) */
  name: string;
  /** the node's InternalIP: where its hostNetwork pods (the agents) listen; reachable from the host */
  ip: string;
  /** the node's containerd CRI socket, as seen from the host */
  criSocket: string;
  /** the node's network namespace (`ip netns` name), "" for the host's */
  netns: string;
}

export interface Cluster {
  /** admin kubeconfig (system:masters) */
  kubeconfig: string;
  /** containerd CRI socket path of node A's (`localhost`) private containerd */
  criSocket: string;
  /** every node, node A (`localhost`, on the host) first */
  nodes: ClusterNode[];
  /** directory holding kube-apiserver, kubelet, kubectl, crictl, ... */
  binDir: string;
  /** environment for child processes: KUBECONFIG, CRI_SOCKET, CRI_CONFIG_FILE, KUBECACHEDIR, PATH */
  env: NodeJS.ProcessEnv;
  /** runs kubectl with the admin kubeconfig; resolves to stdout, rejects with stderr in the message */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** runs crictl against node A's containerd */
  crictl(args: string[]): Promise<string>;
  /** runs crictl against the containerd of the node named */
  crictlOn(node: string, args: string[]): Promise<string>;
}

/** Whether this process runs under vitest.e2e.config.ts (the unit-test run must skip e2e suites). */
export const e2eEnabled = process.env.PODFILES_E2E === "1";

async function script(cmd: "up" | "down" | "env" | "status"): Promise<string> {
  const { stdout } = await run("bash", [clusterScript, cmd], {
    cwd: repoRoot,
    maxBuffer: 16 << 20,
    env: process.env,
  }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`scripts/cluster.sh ${cmd} failed: ${err.message}\n${err.stderr ?? ""}`);
  });
  return stdout;
}

export async function clusterIsUp(): Promise<boolean> {
  try {
    await run("bash", [clusterScript, "status"], { cwd: repoRoot });
    return true;
  } catch {
    return false;
  }
}

/** Runs scripts/cluster.sh CMD with its progress (stderr) shown, for the long steps. */
function scriptLoud(cmd: "up" | "down"): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [clusterScript, cmd], { cwd: repoRoot, stdio: ["ignore", "ignore", "inherit"] });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`scripts/cluster.sh ${cmd} exited with ${code}`))));
  });
}

/** Brings the cluster up (builds the binaries first if they are not cached: minutes). */
export async function clusterUp(): Promise<void> {
  await scriptLoud("up");
}

/** Tears the cluster down and checks that nothing is left. */
export async function clusterDown(): Promise<void> {
  await scriptLoud("down");
}

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

let cached: Promise<Cluster> | undefined;

/** Brings the cluster up unless it already runs (cheap when it does) and returns how to reach it. */
export function ensureCluster(): Promise<Cluster> {
  cached ??= (async () => {
    await script("up");
    const vars = parseEnv(await script("env"));
    const binDir = vars.PATH.replace(/:\$PATH$/, "");
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: vars.KUBECONFIG,
      CRI_SOCKET: vars.CRI_SOCKET,
      KUBECACHEDIR: vars.KUBECACHEDIR,
      CRI_CONFIG_FILE: vars.CRI_CONFIG_FILE,
      PATH: `${binDir}:${process.env.PATH ?? ""}`,
    };
    const nodesFile = vars.PODFILES_CLUSTER_NODES_FILE;
    for (const f of [vars.KUBECONFIG, path.join(binDir, "kubectl"), nodesFile]) {
      if (!existsSync(f)) throw new Error(`cluster.sh env names ${f}, which does not exist`);
    }
    const tool =
      (bin: string, pre: string[]) =>
      async (args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> => {
        return new Promise((resolve, reject) => {
          const child = execFile(
            path.join(binDir, bin),
            [...pre, ...args],
            { env, maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000 },
            (err, stdout, stderr) => {
              if (err) reject(new Error(`${bin} ${args.join(" ")}: ${err.message}\n${stderr}`));
              else resolve(stdout);
            },
          );
          if (opts.input !== undefined) child.stdin?.end(opts.input);
          else child.stdin?.end();
        });
      };
    const nodes = JSON.parse(readFileSync(nodesFile, "utf8")) as ClusterNode[];
    const crictlAt = (socket: string) => tool("crictl", ["--runtime-endpoint", `unix://${socket}`, "--timeout", "20s"]);
    return {
      kubeconfig: vars.KUBECONFIG,
      criSocket: vars.CRI_SOCKET,
      nodes,
      binDir,
      env,
      kubectl: tool("kubectl", ["--kubeconfig", vars.KUBECONFIG]),
      crictl: crictlAt(vars.CRI_SOCKET),
      crictlOn: (node: string, args: string[]) => {
        const n = nodes.find((x) => x.name === node);
        if (!n) throw new Error(`no node ${node} in ${nodesFile}`);
        return crictlAt(n.criSocket)(args);
      },
    };
  })();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}
