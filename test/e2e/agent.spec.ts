// The podfiles agent for real: deploy/ applied with `kubectl apply -k` (through test/e2e/overlay, which
// adapts it to the cluster of scripts/cluster.sh), the DaemonSet pod on node A (`localhost`) running
// the image of `scripts/images.sh agent`, and the FileService driven through it with the generated TS
// client (gRPC over h2c on node A's address), for a test pod pinned to node A; authenticated with `kubectl create token` tokens and authorized by
// the Roles of deploy/rbac-examples/. kubectl (exec, logs) and the host's own files are the outside
// witnesses. Everything created is deleted again; the cluster is left as it was found.
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rm, rmdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileType, OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { downloadAll, listNames, uploadAll, type FileClient } from "../support/files.js";
import { fileClients } from "../support/server.js";
import { codeName as codeOf } from "../support/status.js";
import { until } from "../support/until.js";
import { agentPort, createSuiteNamespace, writeAgentKustomization } from "./support/agent-deploy.js";
import { importAgentImage } from "./support/agent-image.js";
import { type Cluster, type ClusterNode, e2eEnabled, ensureCluster, repoRoot } from "./support/cluster.js";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

const AGENT_NS = "podfiles";
const NS = "e2e";
const POD = "files";
const SUITE_LABEL = "podfiles.io/e2e";
const timings: Record<string, string> = {};
const t = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

describe.skipIf(!e2eEnabled)("the podfiles agent deployed from deploy/ on the real cluster", () => {
  let cluster: Cluster;
  let nodeA: ClusterNode;
  let port = 8080;
  let runDir = "";
  let url = "";
  const nonce = randomBytes(6).toString("hex");
  const content = `hello from the e2e pod ${nonce}\n`;
  // a file only the host has: symlinks in the pod point at it
  const hostMarker = `/tmp/podfiles-e2e-marker-${nonce}`;
  const hostMarkerContent = `HOST ONLY ${nonce}\n`;
  const ref = { namespace: NS, pod: POD, container: "main" };
  const tokens: Record<"deployer" | "viewer" | "outsider", string> = { deployer: "", viewer: "", outsider: "" };
  const bearer =
    (token: string): Interceptor =>
    (next) =>
    (req) => {
      req.header.set("Authorization", `Bearer ${token}`);
      return next(req);
    };
  const client = (who?: keyof typeof tokens): FileClient => fileClients(url, who ? [bearer(tokens[who])] : []).grpc;

  /** kubectl with stdout as bytes (binary files through `kubectl exec -- cat`). */
  const kubectlBytes = (args: string[]) =>
    new Promise<Buffer>((resolve, reject) => {
      execFile(
        path.join(cluster.binDir, "kubectl"),
        ["--kubeconfig", cluster.kubeconfig, ...args],
        { env: cluster.env, encoding: "buffer", maxBuffer: 64 << 20, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`kubectl ${args.join(" ")}: ${err.message}\n${stderr}`)) : resolve(stdout)),
      );
    });
  const agentPodOn = async (node: string) =>
    (
      await cluster.kubectl([
        "-n",
        AGENT_NS,
        "get",
        "pods",
        "-l",
        "app.kubernetes.io/component=agent",
        "--field-selector",
        `spec.nodeName=${node}`,
        "-o",
        "jsonpath={.items[0].metadata.name}",
      ])
    ).trim();
  const execInPod = (...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", POD, "-c", "main", "--", ...cmd]);

  async function namespaceExists(name: string): Promise<Record<string, string> | undefined> {
    const out = await cluster.kubectl(["get", "namespace", name, "--ignore-not-found", "-o", "json"]);
    if (!out.trim()) return undefined;
    return (JSON.parse(out).metadata?.labels ?? {}) as Record<string, string>;
  }

  /** Deletes what this suite creates (also what a killed run left behind). */
  async function cleanup(): Promise<void> {
    // both at once: each waits for its namespace to be finalized (seconds each)
    await Promise.all([
      runDir && existsSync(path.join(runDir, "kustomization.yaml"))
        ? cluster.kubectl(["delete", "-k", runDir, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 })
        : undefined,
      cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 }),
    ]);
  }

  beforeAll(async () => {
    const t0 = Date.now();
    cluster = await ensureCluster();

    // The suite owns the namespaces it creates; one left by a killed run carries its label.
    for (const ns of [AGENT_NS, NS]) {
      const labels = await namespaceExists(ns);
      if (labels && labels[SUITE_LABEL] !== "agent") {
        throw new Error(`namespace ${ns} exists and is not this suite's (no ${SUITE_LABEL}=agent label): not touching it`);
      }
    }

    // The image from this checkout: `up` imports it, but a reused cluster may hold an older one.
    const t1 = Date.now();
    await importAgentImage(cluster);
    timings["agent image build (cache check) + import"] = t(t1);

    // The agent runs on the host network and listens on its node's address (node A: on the host):
    // 8080 if free, else any free port.
    nodeA = cluster.nodes[0];
    port = await agentPort(cluster);
    url = `http://${nodeA.ip}:${port}`;
    runDir = path.join(repoRoot, "test/e2e/.run", `agent-${nonce}`);
    await writeAgentKustomization(cluster, runDir, port, "test/e2e/agent.spec.ts");
    // env/3 must be KUBERNETES_SERVICE_PORT (NODE_NAME, POD_NAMESPACE, HOST, PORT): check the rendering
    const rendered = await cluster.kubectl(["kustomize", runDir]);
    expect(rendered).toContain(`- --port=${port}`);
    expect(rendered).toMatch(/name: KUBERNETES_SERVICE_PORT\n\s+value: "\d+"/);

    await cleanup(); // leftovers of a killed run, if any

    // deploy/ for real
    const t2 = Date.now();
    const applied = await cluster.kubectl(["apply", "-k", runDir]);
    expect(applied).toMatch(/daemonset\.apps\/podfiles-agent (created|configured|unchanged)/);

    // the test pod: runs as uid 1000 (the image's `app`), writes a file at start, and plants
    // symlinks that point out of its root
    await createSuiteNamespace(cluster, NS, "agent");
    const script = [
      'printf "%s" "$CONTENT" > /home/app/hello.txt',
      "head -c 300000 /dev/urandom > /home/app/random.bin",
      "mkdir -p /home/app/dir/sub && echo sub > /home/app/dir/sub/x.txt",
      `ln -s ${hostMarker} /home/app/abs-link`,
      `ln -s ../../../../../../../..${hostMarker} /home/app/dotdot-link`,
      "ln -s /etc/hostname /home/app/hostname-link",
      "touch /home/app/.ready",
      'trap "exit 0" TERM; while true; do sleep 1; done',
    ].join("; ");
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: POD, namespace: NS },
      spec: {
        // the agent called here is node A's: the pod must be on node A
        nodeName: nodeA.name,
        terminationGracePeriodSeconds: 1,
        securityContext: { runAsUser: 1000, runAsGroup: 1000 },
        containers: [
          {
            name: "main",
            image: "localhost/podfiles-busybox:1",
            imagePullPolicy: "Never",
            command: ["sh", "-c", script],
            env: [{ name: "CONTENT", value: content }],
          },
        ],
      },
    };
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });

    // callers: ServiceAccounts bound by the example Roles of deploy/rbac-examples (team-a -> e2e)
    for (const sa of ["deployer", "viewer", "outsider"]) await cluster.kubectl(["-n", NS, "create", "serviceaccount", sa]);
    for (const f of ["containerfiles-readwrite.yaml", "containerfiles-readonly.yaml"]) {
      const yaml = (await readFile(path.join(repoRoot, "deploy/rbac-examples", f), "utf8")).replaceAll("namespace: team-a", `namespace: ${NS}`);
      expect(yaml.replace(/#.*$/gm, "")).not.toContain("team-a");
      await cluster.kubectl(["apply", "-f", "-"], { input: yaml });
    }
    for (const sa of Object.keys(tokens) as (keyof typeof tokens)[]) {
      tokens[sa] = (await cluster.kubectl(["-n", NS, "create", "token", sa, "--duration=20m"])).trim();
    }

    // the agent pods: one per node, Running and Ready; the one on node A is called here
    const agentPod = await until(
      "agent pods Running and Ready on every node",
      async () => {
        const list = JSON.parse(await cluster.kubectl(["-n", AGENT_NS, "get", "pods", "-l", "app.kubernetes.io/component=agent", "-o", "json"]));
        const ready = (
          list.items as {
            metadata: { name: string };
            spec: { nodeName: string };
            status?: { phase?: string; conditions?: { type: string; status: string }[] };
          }[]
        ).filter((p) => p.status?.phase === "Running" && p.status.conditions?.find((c) => c.type === "Ready")?.status === "True");
        return ready.length === cluster.nodes.length ? ready.find((p) => p.spec.nodeName === nodeA.name)?.metadata.name : undefined;
      },
      120_000,
    );
    timings["apply -k → agent pod Running + Ready"] = t(t2);
    // ... and answering (an unauthenticated call is refused by the auth layer, so the server is up)
    await until("agent answering", async () => ((await codeOf(listNames(client(), ref, "/"))) === "Unauthenticated" ? true : undefined), 60_000);
    timings["apply -k → agent answering"] = t(t2);
    const logs = await cluster.kubectl(["-n", AGENT_NS, "logs", agentPod]);
    console.log(`[e2e agent] agent log:\n${logs.trim().split("\n").slice(0, 6).join("\n")}`);

    await until("test pod ready", () => execInPod("test", "-e", "/home/app/.ready").then(() => true), 120_000);
    // exec reaches the container through the kubelet before the kubelet has reported it running to the
    // API server, and the agent resolves containers from the API's pod status: wait for that too
    await until(
      "test pod's container reported running to the API server",
      async () => {
        const p = JSON.parse(await cluster.kubectl(["-n", NS, "get", "pod", POD, "-o", "json"]));
        const main = (p.status?.containerStatuses ?? []).find((c: { name: string }) => c.name === "main");
        return main?.state?.running && main.containerID ? true : undefined;
      },
      120_000,
    );
    await writeFile(hostMarker, hostMarkerContent);
    timings["beforeAll total"] = t(t0);
  });

  afterAll(async () => {
    if (!cluster) return;
    const t0 = Date.now();
    try {
      await cleanup();
    } finally {
      if (runDir) await rm(runDir, { recursive: true, force: true });
      await rmdir(path.join(repoRoot, "test/e2e/.run")).catch(() => {}); // only if empty
      await rm(hostMarker, { force: true });
    }
    timings["cleanup (delete -k, namespaces)"] = t(t0);
    // nothing of ours is left
    expect(await namespaceExists(AGENT_NS)).toBeUndefined();
    expect(await namespaceExists(NS)).toBeUndefined();
    expect((await cluster.kubectl(["get", "clusterrole,clusterrolebinding", "-l", "app.kubernetes.io/name=podfiles", "-o", "name"])).trim()).toBe("");
    console.log(`[e2e agent] timings: ${JSON.stringify(timings, null, 1)}`);
  });

  it("runs the agent image built from this checkout (Node 24, in-cluster config, containerd found)", async () => {
    const ds = JSON.parse(await cluster.kubectl(["-n", AGENT_NS, "get", "daemonset", "podfiles-agent", "-o", "json"]));
    expect(ds.status.numberReady).toBe(cluster.nodes.length);
    expect(ds.spec.template.spec.containers[0].image).toBe("localhost/podfiles-agent:dev");
    const podName = await agentPodOn(nodeA.name);
    // the first call that names a container makes the agent detect the CRI socket (lazily)
    await client("deployer").stat({ container: ref, path: "/" });
    const logs = await cluster.kubectl(["-n", AGENT_NS, "logs", podName]);
    const lines = logs
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const listening = lines.find((l) => l.msg === "agent listening");
    expect(listening, logs).toBeDefined();
    expect(listening?.url).toBe(`http://${nodeA.ip}:${port}`);
    expect(listening?.node).toBe(nodeA.name);
    expect(JSON.stringify(listening?.auth)).toMatch(/kubernetes/);
    // the cluster's private containerd, through the mount of test/e2e/overlay, found by auto-detection
    const cri = lines.find((l) => l.msg === "CRI socket detected");
    expect(cri, logs).toMatchObject({ socket: "/host/run/containerd/containerd.sock", runtime: "containerd" });
    // Node 24 from the image
    const version = await cluster.kubectl(["-n", AGENT_NS, "exec", podName, "--", "/usr/local/bin/node", "--version"]);
    expect(version.trim()).toMatch(/^v24\./);
  });

  it("ListFiles and Stat show what the pod wrote (kubectl exec as witness)", async () => {
    const names = await listNames(client("deployer"), ref, "/home/app", { includeHidden: true });
    expect(names).toEqual(
      [
        "/home/app/.ready",
        "/home/app/abs-link",
        "/home/app/dir",
        "/home/app/dotdot-link",
        "/home/app/hello.txt",
        "/home/app/hostname-link",
        "/home/app/random.bin",
      ].sort(),
    );
    const witness = (await execInPod("ls", "-a", "/home/app")).split(/\s+/).filter((n) => n && n !== "." && n !== "..");
    expect(names.map((n) => path.basename(n)).sort()).toEqual(witness.sort());

    const { entry } = await client("deployer").stat({ container: ref, path: "/home/app/hello.txt" });
    expect(entry?.type).toBe(FileType.REGULAR);
    expect(entry?.size).toBe(BigInt(Buffer.byteLength(content)));
    expect(`${entry?.uid}:${entry?.gid}`).toBe((await execInPod("stat", "-c", "%u:%g", "/home/app/hello.txt")).trim());
    expect(entry?.uid).toBe(1000);
    const link = await client("deployer").stat({ container: ref, path: "/home/app/abs-link" });
    expect(link.entry?.type).toBe(FileType.SYMLINK);
    expect(link.entry?.symlinkTarget).toBe(hostMarker);

    const recursive = await listNames(client("viewer"), ref, "/home/app/dir", { recursive: true });
    expect(recursive).toEqual(["/home/app/dir/sub", "/home/app/dir/sub/x.txt"]);
  });

  it("Download returns what `kubectl exec -- cat` reads (text and 300 kB of random bytes)", async () => {
    const text = await downloadAll(client("viewer"), ref, "/home/app/hello.txt");
    expect(text.data.toString()).toBe(content);
    expect(text.data.toString()).toBe(await execInPod("cat", "/home/app/hello.txt"));

    const bin = await downloadAll(client("viewer"), ref, "/home/app/random.bin");
    const witness = await kubectlBytes(["-n", NS, "exec", POD, "-c", "main", "--", "cat", "/home/app/random.bin"]);
    expect(witness.length).toBe(300_000);
    expect(sha256(bin.data)).toBe(sha256(witness));
    expect(Buffer.from(bin.trailer?.sha256 ?? []).toString("hex")).toBe(sha256(witness));
  });

  it("Upload writes into the container as its user (kubectl exec reads content and owner)", async () => {
    const data = randomBytes(200_000);
    const res = await uploadAll(client("deployer"), ref, "/home/app/uploaded.bin", data, {}, 64 * 1024);
    expect(res.bytesReceived).toBe(200_000n);
    const witness = await kubectlBytes(["-n", NS, "exec", POD, "-c", "main", "--", "cat", "/home/app/uploaded.bin"]);
    expect(sha256(witness)).toBe(sha256(data));
    // the container's user (runAsUser/runAsGroup 1000), as runtimeSpec.process.user says
    expect((await execInPod("stat", "-c", "%u:%g %a", "/home/app/uploaded.bin")).trim()).toMatch(/^1000:1000 6[0-9][0-9]$/);

    const note = Buffer.from(`uploaded ${nonce}\n`);
    await uploadAll(client("deployer"), ref, "/tmp/note.txt", note);
    expect(await execInPod("cat", "/tmp/note.txt")).toBe(note.toString());
    expect((await execInPod("stat", "-c", "%u:%g", "/tmp/note.txt")).trim()).toBe("1000:1000");
  });

  it("stays inside the container's root: symlinks and .. to host paths do not reach the host", async () => {
    expect(await readFile(hostMarker, "utf8")).toBe(hostMarkerContent); // the host does have it
    const c = client("deployer");
    const leaked = async (p: string) => {
      const r = await downloadAll(c, ref, p).then(
        (d) => d.data.toString(),
        (e) => `error ${Code[ConnectError.from(e).code]}`,
      );
      expect(r).not.toContain(nonce);
      return r;
    };
    // absolute symlink to a host file: resolved in the container's root, where it does not exist
    expect(await leaked("/home/app/abs-link")).toBe("error NotFound");
    // a .. chain out of the root stops at the container's /
    expect(await leaked("/home/app/dotdot-link")).toBe("error NotFound");
    // .. in the request path is clamped to the container's root
    expect(await leaked(`/../../../../..${hostMarker}`)).toBe("error NotFound");
    // a symlink to /etc/hostname gives the container's file, not the host's (nor the agent's)
    const hostHostname = await readFile("/etc/hostname", "utf8").catch(() => os.hostname());
    const viaLink = await leaked("/home/app/hostname-link");
    expect(viaLink).toBe(await execInPod("cat", "/etc/hostname"));
    expect(viaLink.trim()).toBe(POD);
    expect(viaLink.trim()).not.toBe(hostHostname.trim());
    // nothing was written through a link to the host either
    await codeOf(uploadAll(c, ref, "/home/app/abs-link", Buffer.from(`overwrite ${nonce}`), { overwrite: OverwritePolicy.OVERWRITE }));
    expect(await readFile(hostMarker, "utf8")).toBe(hostMarkerContent);
  });

  it("refuses calls without a token (UNAUTHENTICATED) and without the RBAC grant (PERMISSION_DENIED)", async () => {
    expect(await codeOf(listNames(client(), ref, "/home/app"))).toBe("Unauthenticated");
    expect(await codeOf(client().stat({ container: ref, path: "/home/app/hello.txt" }))).toBe("Unauthenticated");
    expect(await codeOf(downloadAll(client(), ref, "/home/app/hello.txt"))).toBe("Unauthenticated");
    // a tampered token
    const bogus = fileClients(url, [bearer(`${tokens.deployer.slice(0, -4)}AAAA`)]).grpc;
    expect(await codeOf(listNames(bogus, ref, "/home/app"))).toBe("Unauthenticated");
    // a valid token of a ServiceAccount that no Role grants containerfiles
    expect(await codeOf(listNames(client("outsider"), ref, "/home/app"))).toBe("PermissionDenied");
    expect(await codeOf(downloadAll(client("outsider"), ref, "/home/app/hello.txt"))).toBe("PermissionDenied");
    expect(await codeOf(uploadAll(client("outsider"), ref, "/tmp/outsider.txt", Buffer.from("x")))).toBe("PermissionDenied");
    // read-only grant: reads pass, writes are refused
    expect(await codeOf(client("viewer").stat({ container: ref, path: "/home/app/hello.txt" }))).toBe("OK");
    expect(await codeOf(uploadAll(client("viewer"), ref, "/tmp/viewer.txt", Buffer.from("x")))).toBe("PermissionDenied");
    // the grant is per namespace: the deployer of e2e may not touch the agent's own pod
    const agentPod = await agentPodOn(nodeA.name);
    expect(await codeOf(listNames(client("deployer"), { namespace: AGENT_NS, pod: agentPod, container: "agent" }, "/"))).toBe("PermissionDenied");
    // nothing was written by the refused calls
    expect(await codeOf(execInPod("test", "-e", "/tmp/outsider.txt"))).not.toBe("OK");
    expect(await codeOf(execInPod("test", "-e", "/tmp/viewer.txt"))).not.toBe("OK");
  });
});
