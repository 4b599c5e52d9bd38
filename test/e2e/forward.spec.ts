// Agents forwarding to each other on the real two-node cluster: deploy/ applied (through
// test/e2e/overlay, auth on: TokenReview + SubjectAccessReview), one pod pinned to each node, and
// every call made through the agent of the OTHER node. The serving agent decides (its RBAC check,
// its files); the forwarding agent finds it through its informer over the agents' pods. Witnesses:
// kubectl exec in the pods (sha256sum, ls), the agents' logs, their open files in /proc.
import { randomBytes, createHash } from "node:crypto";
import { readdirSync, readlinkSync } from "node:fs";
import * as http2 from "node:http2";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, type Interceptor } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveFormat, DownloadRequestSchema } from "../../gen/ts/podfiles/v1/files_pb.js";
import { downloadAll, listNames, uploadAll } from "../support/files.js";
import { fileClients } from "../support/server.js";
import { codeAndMessage } from "../support/status.js";
import { until } from "../support/until.js";
import {
  AGENT_NS,
  assertOwnNamespace,
  type DeployedAgents,
  deployAgents,
  keepAgentsOnlyOn,
  readerToken,
  roleToken,
  createSuiteNamespace,
  waitAgentsReady,
  waitHttp,
} from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster } from "./support/cluster.js";

const NS = "forward-e2e";
const MiB = 1024 * 1024;
const twoNodes = (process.env.PODFILES_NODES ?? "2") !== "1";

describe.skipIf(!e2eEnabled || !twoNodes)("agents forward calls for pods on the other node", () => {
  let cluster: Cluster;
  let agents: DeployedAgents;
  let writer = "";
  let reader = "";
  let nobody = "";
  const nonce = randomBytes(6).toString("hex");
  const podOn: Record<string, string> = {}; // node -> pod
  const exec = (pod: string, ...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", pod, "-c", "main", "--", ...cmd], { timeoutMs: 120_000 });
  const withToken = (token: string): Interceptor[] => [
    (next) => (req) => {
      req.header.set("Authorization", `Bearer ${token}`);
      return next(req);
    },
  ];
  const clients = (url: string, token = writer) => fileClients(url, withToken(token));
  const ref = (node: string) => ({ namespace: NS, pod: podOn[node]!, container: "main" });
  const other = (node: string) => cluster.nodes.find((n) => n.name !== node)!.name;

  beforeAll(async () => {
    cluster = await ensureCluster();
    expect(cluster.nodes.map((n) => n.name)).toEqual(["localhost", "node-b"]);
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    agents = await deployAgents(cluster, nonce);
    await createSuiteNamespace(cluster, NS, "forward");
    for (const [i, node] of cluster.nodes.entries()) {
      const name = `files-${i === 0 ? "a" : "b"}`;
      podOn[node.name] = name;
      const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: NS },
        spec: {
          nodeName: node.name,
          terminationGracePeriodSeconds: 1,
          containers: [
            { name: "main", image: "localhost/podfiles-busybox:1", imagePullPolicy: "Never", command: ["sh", "-c", "mkdir -p /data && exec sleep 100000"] },
          ],
        },
      };
      await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(pod) });
    }
    reader = await readerToken(cluster, NS);
    writer = await roleToken(cluster, NS, "writer", ["get", "create", "update", "delete"]);
    await cluster.kubectl(["-n", NS, "create", "serviceaccount", "nobody"]);
    nobody = (await cluster.kubectl(["-n", NS, "create", "token", "nobody", "--duration=20m"])).trim();
    for (const pod of Object.values(podOn))
      await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", `pod/${pod}`, "--timeout=120s"], { timeoutMs: 130_000 });
  }, 300_000);

  afterAll(async () => {
    if (!cluster) return;
    await Promise.all([
      agents?.remove(),
      cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 }),
    ]);
    expect((await cluster.kubectl(["get", "namespace", AGENT_NS, NS, "--ignore-not-found", "-o", "name"])).trim()).toBe("");
  }, 200_000);

  it.each([
    ["localhost", "node-b"],
    ["node-b", "localhost"],
  ])(
    "every RPC for the pod on %s through the agent on %s",
    async (podNode, agentNode) => {
      expect(other(podNode)).toBe(agentNode);
      const c = clients(agents.urlOf(agentNode)).grpc;
      const json = clients(agents.urlOf(agentNode)).connectJson;
      const r = ref(podNode);
      const dir = `/data/rpc-${nonce}`;
      await c.makeDirectory({ container: r, path: dir });
      const data = randomBytes(3 * MiB + 11);
      const sum = createHash("sha256").update(data).digest("hex");
      await uploadAll(c, r, `${dir}/up.bin`, data);
      expect((await exec(r.pod, "sha256sum", `${dir}/up.bin`)).split(" ")[0]).toBe(sum);
      expect(
        createHash("sha256")
          .update((await downloadAll(json, r, `${dir}/up.bin`)).data)
          .digest("hex"),
      ).toBe(sum);
      expect((await c.stat({ container: r, path: `${dir}/up.bin` })).entry?.size).toBe(BigInt(data.length));
      const path = `${dir}/chunked.bin`;
      const begin = await json.beginUpload({ container: r, path });
      await json.writeUploadChunk({ container: r, path, uploadId: begin.uploadId, offset: 0n, data: data.subarray(0, MiB) });
      expect((await c.queryUpload({ container: r, path, uploadId: begin.uploadId })).committedSize).toBe(BigInt(MiB));
      await c.commitUpload({ container: r, path, uploadId: begin.uploadId });
      expect(await listNames(json, r, dir)).toEqual([`${dir}/chunked.bin`, `${dir}/up.bin`]);
      const tarred = await downloadAll(c, r, dir, { archive: ArchiveFormat.TAR });
      expect(tarred.data.length).toBeGreaterThan(data.length + MiB);
      await json.rename({ container: r, path: `${dir}/up.bin`, newPath: `${dir}/moved.bin` });
      expect((await exec(r.pod, "ls", dir)).split("\n").filter(Boolean).sort()).toEqual(["chunked.bin", "moved.bin"]);
      const [code, message] = await codeAndMessage(c.stat({ container: r, path: `${dir}/nope` }));
      expect(code).toBe(Code.NotFound);
      expect(message).toContain(`${dir}/nope`);
      await c.remove({ container: r, path: dir, recursive: true });
      expect(await exec(r.pod, "sh", "-c", `test -e ${dir} && echo there || echo gone`)).toBe("gone\n");
      // the forwarding agent logged the hop
      const logs = await cluster.kubectl(["-n", AGENT_NS, "logs", agents.pods[agentNode]!]);
      expect(logs).toMatch(new RegExp(`"msg":"forwarded".*"node":"${podNode}"`));
    },
    120_000,
  );

  it("256 MiB up and down through the hop, equal to sha256sum in the pod", async () => {
    const r = ref("node-b");
    const c = clients(agents.urlOf("localhost")).grpc;
    const hash = createHash("sha256");
    async function* chunks() {
      for (let i = 0; i < 256; i++) {
        const b = randomBytes(MiB);
        hash.update(b);
        yield b;
      }
    }
    const up = await uploadAll(c, r, `/data/big-${nonce}.bin`, chunks());
    const sum = hash.digest("hex");
    expect(Buffer.from(up.sha256).toString("hex")).toBe(sum);
    expect((await exec(r.pod, "sha256sum", `/data/big-${nonce}.bin`)).split(" ")[0]).toBe(sum);
    const down = createHash("sha256");
    let n = 0;
    for await (const m of c.download({ container: r, path: `/data/big-${nonce}.bin` })) {
      if (m.part.case === "data") {
        down.update(m.part.value);
        n += m.part.value.length;
      }
    }
    expect(n).toBe(256 * MiB);
    expect(down.digest("hex")).toBe(sum);
  }, 300_000);

  it("a cancelled download through the hop frees the file on both agents", async () => {
    const path = `/data/big-${nonce}.bin`;
    const session = http2.connect(agents.urlOf("localhost"));
    try {
      const stream = session.request({
        ":method": "POST",
        ":path": "/podfiles.v1.FileService/Download",
        "content-type": "application/grpc",
        te: "trailers",
        authorization: `Bearer ${writer}`,
      });
      stream.end(envelope(toBinary(DownloadRequestSchema, create(DownloadRequestSchema, { container: ref("node-b"), path }))));
      await new Promise((resolve, reject) => (stream.once("data", resolve), stream.once("error", reject)));
      const pidB = await agentPid("node-b");
      expect(openFilesOf(pidB, `big-${nonce}.bin`)).toBe(1);
      stream.close(http2.constants.NGHTTP2_CANCEL);
      await until("node-b agent closed the file", async () => (openFilesOf(pidB, `big-${nonce}.bin`) === 0 ? true : undefined), 5000);
      // the forwarding agent never opens the file; its stream to node-b is gone too (no fd left anywhere)
      expect(openFilesOf(await agentPid("localhost"), `big-${nonce}.bin`)).toBe(0);
    } finally {
      session.close();
    }
  }, 60_000);

  it("the caller's deadline reaches the serving agent: DEADLINE_EXCEEDED from node-b with no client-side timer", async () => {
    const session = http2.connect(agents.urlOf("localhost"));
    try {
      const started = Date.now();
      const stream = session.request({
        ":method": "POST",
        ":path": "/podfiles.v1.FileService/Download",
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": "1500m",
        authorization: `Bearer ${writer}`,
      });
      stream.end(envelope(toBinary(DownloadRequestSchema, create(DownloadRequestSchema, { container: ref("node-b"), path: `/data/big-${nonce}.bin` }))));
      stream.pause(); // reads nothing: the 256 MiB cannot finish before the deadline
      await new Promise((r) => setTimeout(r, 2500));
      const status = new Promise<string>((resolve) => stream.on("trailers", (t) => resolve(String(t["grpc-status"]))));
      stream.resume();
      expect(await status).toBe(String(Code.DeadlineExceeded));
      expect(Date.now() - started).toBeLessThan(20_000);
    } finally {
      session.close();
    }
  }, 60_000);

  it("the serving agent decides: a token without the Role gets PERMISSION_DENIED from node-b's agent; a reader cannot write", async () => {
    const r = ref("node-b");
    const [code, message] = await codeAndMessage(clients(agents.urlOf("localhost"), nobody).grpc.stat({ container: r, path: "/data" }));
    expect(code).toBe(Code.PermissionDenied);
    expect(message).toContain(`system:serviceaccount:${NS}:nobody cannot get`);
    const [wcode] = await codeAndMessage(clients(agents.urlOf("localhost"), reader).grpc.makeDirectory({ container: r, path: "/data/no" }));
    expect(wcode).toBe(Code.PermissionDenied);
    const logsB = await cluster.kubectl(["-n", AGENT_NS, "logs", agents.pods["node-b"]!]);
    expect(logsB).toMatch(new RegExp(`"msg":"audit".*"who":"system:serviceaccount:${NS}:nobody".*"result":"denied"`));
    // no credentials at all: refused by the agent it reached, before any lookup or hop
    const [acode] = await codeAndMessage(fileClients(agents.urlOf("localhost")).grpc.stat({ container: r, path: "/data" }));
    expect(acode).toBe(Code.Unauthenticated);
  }, 60_000);

  it("a crafted hop marker makes no loop and no hop: without an agent credential it is refused where it arrives", async () => {
    const crafted = fileClients(agents.urlOf("localhost"), [
      (next) => (req) => {
        req.header.set("Authorization", `Bearer ${writer}`);
        req.header.set("podfiles-forwarded-by", "node-b");
        req.header.set("podfiles-agent-authorization", `Bearer ${writer}`);
        return next(req);
      },
    ]).grpc;
    const [code, message] = await codeAndMessage(crafted.stat({ container: ref("node-b"), path: "/data" }));
    expect(code).toBe(Code.Unauthenticated);
    expect(message).toContain("forwarded call without a valid agent credential");
  });

  it("a restarted agent on node-b is picked up from the watch; with none there: FAILED_PRECONDITION naming the node, promptly", async () => {
    const c = clients(agents.urlOf("localhost")).grpc;
    await cluster.kubectl(["-n", AGENT_NS, "delete", "pod", agents.pods["node-b"]!, "--wait=true"], { timeoutMs: 60_000 });
    const pods = await waitAgentsReady(cluster, 120_000);
    await waitHttp(agents.urlOf("node-b"), 60_000);
    expect(pods["node-b"]).not.toBe(agents.pods["node-b"]);
    await until("a call through node A reaches the new agent on node-b", () => c.stat({ container: ref("node-b"), path: "/data" }).then(() => true), 15_000);

    // no agent on node-b (node A's rolls too)
    await keepAgentsOnlyOn(cluster, agents, "localhost");
    const started = Date.now();
    const [code, message] = await codeAndMessage(c.stat({ container: ref("node-b"), path: "/data" }));
    expect([Code.FailedPrecondition, Code.Unavailable]).toContain(code);
    expect(message).toContain("node-b");
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 300_000);

  /** The host PID of the agent process on a node (hostPID: one PID namespace for all). */
  async function agentPid(node: string): Promise<number> {
    const id = (await cluster.crictlOn(node, ["ps", "--name", "agent", "--state", "running", "-q"])).trim().split("\n")[0]!;
    return JSON.parse(await cluster.crictlOn(node, ["inspect", id])).info.pid as number;
  }
});

/** Descriptors of a process whose target path ends with `name`. */
function openFilesOf(pid: number, name: string): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).endsWith(name)) n++;
    } catch {
      // closed while listed
    }
  }
  return n;
}

function envelope(bytes: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}
