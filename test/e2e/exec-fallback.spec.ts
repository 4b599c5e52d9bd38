// --exec-fallback on the real two-node cluster: deploy/ applied with the deploy/exec-fallback/
// component (the flag and its pods/exec ClusterRole, as a user adds them), then the DaemonSet kept
// off node-b (nodeSelector, as forward.spec.ts does), so node-b has no agent. Calls for a busybox pod
// on node-b made to node A's agent are served there through ExecFs (pods/exec through the API server)
// instead of FAILED_PRECONDITION. Witnesses: kubectl exec in the pod (sha256sum, find) and node A's
// agent log ("served through exec", naming the pod and node-b).
import { createHash, randomBytes } from "node:crypto";
import { Code, type Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveFormat } from "../../gen/ts/podfiles/v1/files_pb.js";
import { downloadAll, listNames, uploadAll } from "../support/files.js";
import { fileClients } from "../support/server.js";
import { codeAndMessage } from "../support/status.js";
import {
  AGENT_NS,
  assertOwnNamespace,
  type DeployedAgents,
  deployAgents,
  keepAgentsOnlyOn,
  roleToken,
  createSuiteNamespace,
  dataPod,
} from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster } from "./support/cluster.js";

const NS = "fallback-e2e";
const POD = "bare-b";
const MiB = 1024 * 1024;
const twoNodes = (process.env.PODFILES_NODES ?? "2") !== "1";

describe.skipIf(!e2eEnabled || !twoNodes)("agent --exec-fallback: a pod on a node without an agent, served through pods/exec", () => {
  let cluster: Cluster;
  let agents: DeployedAgents;
  let writer = "";
  let nobody = "";
  const nonce = randomBytes(6).toString("hex");
  const ref = { namespace: NS, pod: POD, container: "main" };
  const exec = (...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", POD, "-c", "main", "--", ...cmd], { timeoutMs: 120_000 });
  const withToken = (token: string): Interceptor[] => [
    (next) => (req) => {
      req.header.set("Authorization", `Bearer ${token}`);
      return next(req);
    },
  ];
  const clientsOnA = (token = writer) => fileClients(agents.urlOf("localhost"), withToken(token));
  const agentLogA = async () => {
    const pods = JSON.parse(await cluster.kubectl(["-n", AGENT_NS, "get", "pods", "-l", "app.kubernetes.io/component=agent", "-o", "json"])) as {
      items: { metadata: { name: string }; spec: { nodeName: string } }[];
    };
    const a = pods.items.find((p) => p.spec.nodeName === "localhost")!;
    return cluster.kubectl(["-n", AGENT_NS, "logs", a.metadata.name]);
  };

  beforeAll(async () => {
    cluster = await ensureCluster();
    expect(cluster.nodes.map((n) => n.name)).toEqual(["localhost", "node-b"]);
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    agents = await deployAgents(cluster, nonce, 120_000, { execFallback: true });
    await createSuiteNamespace(cluster, NS, "exec-fallback");
    const pod = dataPod(NS, POD, "node-b");
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
    writer = await roleToken(cluster, NS, "writer", ["get", "create", "update", "delete"]);
    await cluster.kubectl(["-n", NS, "create", "serviceaccount", "nobody"]);
    nobody = (await cluster.kubectl(["-n", NS, "create", "token", "nobody", "--duration=20m"])).trim();
    await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", `pod/${POD}`, "--timeout=120s"], { timeoutMs: 130_000 });

    // no agent on node-b (node A's rolls too)
    await keepAgentsOnlyOn(cluster, agents, "localhost");
  }, 400_000);

  afterAll(async () => {
    if (!cluster) return;
    await Promise.all([
      agents?.remove(),
      cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 }),
    ]);
    expect((await cluster.kubectl(["get", "namespace", AGENT_NS, NS, "--ignore-not-found", "-o", "name"])).trim()).toBe("");
    expect((await cluster.kubectl(["get", "clusterrole,clusterrolebinding", "podfiles-agent-exec", "--ignore-not-found", "-o", "name"])).trim()).toBe("");
  }, 200_000);

  it("the agent's ServiceAccount has pods/exec through deploy/exec-fallback/ (and only then is the flag on)", async () => {
    const can = (verb: string) =>
      cluster.kubectl(["auth", "can-i", verb, "pods", "--subresource=exec", "-n", NS, `--as=system:serviceaccount:${AGENT_NS}:podfiles-agent`]).then(
        (s) => s.trim(),
        (e: Error) => e.message,
      );
    expect(await can("create")).toBe("yes");
    const ds = JSON.parse(await cluster.kubectl(["-n", AGENT_NS, "get", "daemonset", "podfiles-agent", "-o", "json"]));
    expect(ds.spec.template.spec.containers[0].args).toContain("--exec-fallback");
    expect(await agentLogA()).toMatch(/"execFallback":"on/);
  });

  it("list, stat, download (file and tar), upload (atomic, sha256sum in the pod), mkdir, rename, remove: served by node A's agent through exec", async () => {
    const { grpc: c, connectJson: json } = clientsOnA();
    const dir = `/data/fb-${nonce}`;
    await exec("sh", "-c", `mkdir -p ${dir} && printf 'seeded by kubectl' > ${dir}/seed.txt`);
    expect(await listNames(c, ref, dir)).toEqual([`${dir}/seed.txt`]);
    expect((await c.stat({ container: ref, path: `${dir}/seed.txt` })).entry?.size).toBe(17n);
    expect(Buffer.from((await downloadAll(json, ref, `${dir}/seed.txt`)).data).toString()).toBe("seeded by kubectl");

    const data = randomBytes(2 * MiB + 7);
    const sum = createHash("sha256").update(data).digest("hex");
    await uploadAll(c, ref, `${dir}/up.bin`, data);
    expect((await exec("sha256sum", `${dir}/up.bin`)).split(" ")[0]).toBe(sum);
    // atomic: nothing but the two files (no temp name left behind)
    expect((await exec("ls", "-A", dir)).split("\n").filter(Boolean).sort()).toEqual(["seed.txt", "up.bin"]);
    expect(
      createHash("sha256")
        .update((await downloadAll(c, ref, `${dir}/up.bin`)).data)
        .digest("hex"),
    ).toBe(sum);
    const tarred = await downloadAll(c, ref, dir, { archive: ArchiveFormat.TAR });
    expect(tarred.data.length).toBeGreaterThan(data.length);

    await c.makeDirectory({ container: ref, path: `${dir}/sub` });
    await json.rename({ container: ref, path: `${dir}/up.bin`, newPath: `${dir}/sub/moved.bin` });
    expect((await exec("sha256sum", `${dir}/sub/moved.bin`)).split(" ")[0]).toBe(sum);
    const [code, message] = await codeAndMessage(c.stat({ container: ref, path: `${dir}/nope` }));
    expect(code).toBe(Code.NotFound);
    expect(message).toContain(`${dir}/nope`);
    await c.remove({ container: ref, path: dir, recursive: true });
    expect(await exec("sh", "-c", `test -e ${dir} && echo there || echo gone`)).toBe("gone\n");

    // the serving path: node A's agent said it served this pod through exec, and forwarded nothing
    const logs = await agentLogA();
    expect(logs).toMatch(new RegExp(`"msg":"served through exec","reason":"no ready podfiles agent on node node-b","namespace":"${NS}","pod":"${POD}"`));
    expect(logs).not.toMatch(/"msg":"forwarded"/);
  }, 180_000);

  it("auth still comes first: a token without the Role gets PERMISSION_DENIED, and no exec is run for it", async () => {
    const before = (await agentLogA()).split("\n").filter((l) => l.includes('"served through exec"')).length;
    const [code] = await codeAndMessage(clientsOnA(nobody).grpc.stat({ container: ref, path: "/data" }));
    expect(code).toBe(Code.PermissionDenied);
    const after = (await agentLogA()).split("\n").filter((l) => l.includes('"served through exec"')).length;
    expect(after).toBe(before);
  });
});
