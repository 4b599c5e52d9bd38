// Helpers for end-to-end suites that run against the real one-node cluster of scripts/cluster.sh.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const clusterScript = path.join(repoRoot, 'scripts/cluster.sh');

export interface Cluster {
  /** admin kubeconfig (system:masters) */
  kubeconfig: string;
  /** containerd CRI socket path of the cluster's private containerd */
  criSocket: string;
  /** directory holding kube-apiserver, kubelet, kubectl, crictl, ... */
  binDir: string;
  /** environment for child processes: KUBECONFIG, CRI_SOCKET, CRI_CONFIG_FILE, KUBECACHEDIR, PATH */
  env: NodeJS.ProcessEnv;
  /** runs kubectl with the admin kubeconfig; resolves to stdout, rejects with stderr in the message */
  kubectl(args: string[], opts?: { input?: string; timeoutMs?: number }): Promise<string>;
  /** runs crictl against the cluster's containerd */
  crictl(args: string[]): Promise<string>;
}

/** Whether this process runs under vitest.e2e.config.ts (the unit-test run must skip e2e suites). */
export const e2eEnabled = process.env.PODFILES_E2E === '1';

async function script(cmd: 'up' | 'down' | 'env' | 'status'): Promise<string> {
  const { stdout } = await run('bash', [clusterScript, cmd], {
    cwd: repoRoot,
    maxBuffer: 16 << 20,
    env: process.env,
  }).catch((err: { stderr?: string; message: string }) => {
    throw new Error(`scripts/cluster.sh ${cmd} failed: ${err.message}\n${err.stderr ?? ''}`);
  });
  return stdout;
}

export async function clusterIsUp(): Promise<boolean> {
  try {
    await run('bash', [clusterScript, 'status'], { cwd: repoRoot });
    return true;
  } catch {
    return false;
  }
}

/** Runs scripts/cluster.sh CMD with its progress (stderr) shown, for the long steps. */
function scriptLoud(cmd: 'up' | 'down'): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [clusterScript, cmd], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`scripts/cluster.sh ${cmd} exited with ${code}`)),
    );
  });
}

/** Brings the cluster up (builds the binaries first if they are not cached: minutes). */
export async function clusterUp(): Promise<void> {
  await scriptLoud('up');
}

/** Tears the cluster down and checks that nothing is left. */
export async function clusterDown(): Promise<void> {
  await scriptLoud('down');
}

function parseEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

let cached: Promise<Cluster> | undefined;

/** Brings the cluster up unless it already runs (cheap when it does) and returns how to reach it. */
export function ensureCluster(): Promise<Cluster> {
  cached ??= (async () => {
    await script('up');
    const vars = parseEnv(await script('env'));
    const binDir = vars.PATH.replace(/:\$PATH$/, '');
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: vars.KUBECONFIG,
      CRI_SOCKET: vars.CRI_SOCKET,
      KUBECACHEDIR: vars.KUBECACHEDIR,
      CRI_CONFIG_FILE: vars.CRI_CONFIG_FILE,
      PATH: `${binDir}:${process.env.PATH ?? ''}`,
    };
    for (const f of [vars.KUBECONFIG, path.join(binDir, 'kubectl')]) {
      if (!existsSync(f)) throw new Error(`cluster.sh env names ${f}, which does not exist`);
    }
    const tool = (bin: string, pre: string[]) =>
      async (args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> => {
        return new Promise((resolve, reject) => {
          const child = execFile(
            path.join(binDir, bin),
            [...pre, ...args],
            { env, maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 120_000 },
            (err, stdout, stderr) => {
              if (err) reject(new Error(`${bin} ${args.join(' ')}: ${err.message}\n${stderr}`));
              else resolve(stdout);
            },
          );
          if (opts.input !== undefined) child.stdin?.end(opts.input);
          else child.stdin?.end();
        });
      };
    return {
      kubeconfig: vars.KUBECONFIG,
      criSocket: vars.CRI_SOCKET,
      binDir,
      env,
      kubectl: tool('kubectl', ['--kubeconfig', vars.KUBECONFIG]),
      crictl: tool('crictl', ['--runtime-endpoint', `unix://${vars.CRI_SOCKET}`, '--timeout', '20s']),
    };
  })();
  cached.catch(() => {
    cached = undefined;
  });
  return cached;
}
