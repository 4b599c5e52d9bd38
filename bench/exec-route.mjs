// ExecFs reads through the API server vs straight to the kubelet (seed 003), on the real cluster.
//
//   eval "$(bash scripts/cluster.sh env)"; npm run build; node bench/exec-route.mjs [--size 256] [--reps 3]
//
// One pod on node-b (the kubelet there listens on the node address, 10.234.0.2) holds a random file.
// Three ways to read it, interleaved per rep in one run: `kubectl exec -- cat` (what kubectl cp does
// underneath), `podfiles get` from a `podfiles serve --exec` (ExecFs through the API server), and
// the same with --exec-reads-via-kubelet. Each row: throughput (median), and the CPU seconds per GiB
// the API server and the kubelets spent (from /proc, so everything else on the machine is excluded).
// Every copy is checked against the file's SHA-256 taken inside the pod.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { MiB, median, repoDir, run, startProcess } from "./lib.mjs";

const NS = "podfiles-bench-exec-route";
const POD = "reader";
const NODE = "node-b";
const FILE = "/data/file";
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const sizeMiB = flag("--size", 256);
const reps = flag("--reps", 3);
const podfiles = path.join(repoDir, "bin/podfiles.js");

function kubectl(...a) {
  const r = spawnSync("kubectl", a, { encoding: "utf8", timeout: 300_000 });
  if (r.status !== 0) throw new Error(`kubectl ${a.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** CPU seconds (user + sys) so far of the API server and every kubelet, from /proc/<pid>/stat. */
function clusterCpu() {
  const sums = { apiserver: 0, kubelet: 0 };
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const exe = path.basename(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "");
      const which = exe === "kube-apiserver" ? "apiserver" : exe === "kubelet" ? "kubelet" : undefined;
      if (!which) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      sums[which] += (Number(f[11]) + Number(f[12])) / 100;
    } catch {
      // ended while read
    }
  }
  return sums;
}

async function sha256(file) {
  const h = createHash("sha256");
  for await (const c of createReadStream(file)) h.update(c);
  return h.digest("hex");
}

const serve = (extra) =>
  startProcess(process.execPath, [podfiles, "serve", "--exec", "--port", "0", ...extra], {
    ready: (line) => /on (http:\/\/\S+)/.exec(line)?.[1],
    timeoutMs: 30_000,
  });

const dir = mkdtempSync(path.join(os.tmpdir(), "exec-route-"));
const servers = [];
try {
  kubectl("create", "namespace", NS);
  kubectl("label", "namespace", NS, "podfiles.io/e2e=bench-exec-route");
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: POD, namespace: NS },
    spec: {
      nodeName: NODE,
      containers: [
        { name: "main", image: "localhost/podfiles-busybox:1", imagePullPolicy: "Never", command: ["sh", "-c", "mkdir -p /data && exec sleep 100000"] },
      ],
    },
  };
  spawnSync("kubectl", ["apply", "-f", "-"], { input: JSON.stringify(pod), encoding: "utf8" });
  kubectl("-n", NS, "wait", "--for=condition=Ready", `pod/${POD}`, "--timeout=120s");
  kubectl("-n", NS, "exec", POD, "--", "sh", "-c", `head -c ${sizeMiB * MiB} /dev/urandom > ${FILE}`);
  const want = kubectl("-n", NS, "exec", POD, "--", "sha256sum", FILE).split(" ")[0];

  const api = await serve([]);
  const kubelet = await serve(["--exec-reads-via-kubelet"]);
  servers.push(api, kubelet);
  const ways = {
    "kubectl exec cat (API server)": (out) => run("sh", ["-c", `kubectl -n ${NS} exec ${POD} -- cat ${FILE} > ${out}`], { timeoutMs: 600_000 }),
    "podfiles ExecFs via API server": (out) =>
      run(process.execPath, [podfiles, "get", "--server", api.value, `${NS}/${POD}:${FILE}`, out], { timeoutMs: 600_000 }),
    "podfiles ExecFs via kubelet": (out) =>
      run(process.execPath, [podfiles, "get", "--server", kubelet.value, `${NS}/${POD}:${FILE}`, out], { timeoutMs: 600_000 }),
  };
  const rows = Object.fromEntries(Object.keys(ways).map((k) => [k, { mibps: [], apiserver: [], kubelet: [] }]));
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, fn] of Object.entries(ways)) {
      const out = path.join(dir, `out-${rep}`);
      rmSync(out, { force: true });
      const before = clusterCpu();
      const t0 = performance.now();
      const r = await fn(out);
      const seconds = (performance.now() - t0) / 1000;
      const after = clusterCpu();
      if (r.code !== 0) throw new Error(`${name}: exit ${r.code}: ${r.stderr.trim().slice(-500)}`);
      const got = await sha256(out);
      if (got !== want) throw new Error(`${name}: SHA-256 ${got} ≠ ${want} in the pod`);
      const gib = sizeMiB / 1024;
      rows[name].mibps.push(sizeMiB / seconds);
      rows[name].apiserver.push((after.apiserver - before.apiserver) / gib);
      rows[name].kubelet.push((after.kubelet - before.kubelet) / gib);
      rmSync(out, { force: true });
    }
  }
  console.log(`\n${sizeMiB} MiB from a pod on ${NODE}, ${reps} reps interleaved, medians (every copy's SHA-256 checked):\n`);
  console.log("| way | MiB/s | API server CPU s/GiB | kubelets CPU s/GiB |");
  console.log("|---|---|---|---|");
  for (const [name, r] of Object.entries(rows)) {
    console.log(`| ${name} | ${median(r.mibps).toFixed(1)} | ${median(r.apiserver).toFixed(2)} | ${median(r.kubelet).toFixed(2)} |`);
  }
} finally {
  for (const s of servers) await s.stop();
  spawnSync("kubectl", ["delete", "namespace", NS, "--wait=false"], { encoding: "utf8" });
  rmSync(dir, { recursive: true, force: true });
}
