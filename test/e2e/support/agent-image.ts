// The agent image of this checkout, in every node's containerd: `scripts/cluster.sh up` imports it,
// but a reused cluster may hold an older one. scripts/images.sh answers from its cache when nothing
// changed (0.5 s); each import of the 215 MB layer takes seconds.
import { execFile } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { type Cluster, repoRoot } from "./cluster.js";

const CACHE = process.env.PODFILES_CACHE ?? path.join(os.homedir(), ".cache/podfiles");

function sh(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 1 << 20, timeout: timeoutMs }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`)) : resolve(stdout.trim()),
    ),
  );
}

/** Builds (or finds cached) `localhost/podfiles-agent:dev` and imports it into each node's containerd. */
export async function importAgentImage(cluster: Cluster): Promise<void> {
  const tar = await sh("bash", [path.join(repoRoot, "scripts/images.sh"), "agent", path.join(CACHE, "images")], 600_000);
  await Promise.all(cluster.nodes.map((n) => sh("ctr", ["-a", n.criSocket, "-n", "k8s.io", "images", "import", tar], 300_000)));
}
