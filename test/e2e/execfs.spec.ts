// ExecFs against the real cluster: a podfiles server whose resolver is ExecResolver (every RPC runs
// commands in the container through the API server's pods/exec, admin kubeconfig), busybox pods on
// both nodes (no agent involved: this suite deploys none), and a pod whose image is the static
// pause binary (no shell, no stat, no tar: the distroless case). Witness: `kubectl exec` in the pod
// (sha256sum, ls, find -print0).
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UploadRequestSchema } from "../../gen/ts/podfiles/v1/files_pb.js";
import { wireFromBytes } from "../../src/fs/name-bytes.js";
import { silentLogger } from "../../src/log.js";
import { ExecResolver } from "../../src/resolve/exec-resolver.js";
import { KubePodSource, loadKubeConfig } from "../../src/resolve/kube-pods.js";
import { createServer, type RunningServer } from "../../src/server/server.js";
import { downloadAll, listNames, sha256, uploadAll, type FileClient, type Ref } from "../support/files.js";
import { fileClients } from "../support/server.js";
import { assertOwnNamespace, SUITE_LABEL } from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster, repoRoot } from "./support/cluster.js";

const NS = "execfs-e2e";
const run = promisify(execFile);
const MiB = 1024 * 1024;

/** Status code and message of a failed call. */
async function failure(p: Promise<unknown>): Promise<[Code, string]> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return [e.code, e.rawMessage];
  }
  throw new Error("the call succeeded");
}

describe.skipIf(!e2eEnabled)("ExecFs: every RPC through pods/exec", () => {
  let cluster: Cluster;
  let server: RunningServer;
  let client: FileClient;
  const podOn: Record<string, string> = {};
  const ref = (pod: string): Ref => ({ namespace: NS, pod, container: "main" });
  const exec = (pod: string, ...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", pod, "-c", "main", "--", ...cmd]);
  const execBytes = async (pod: string, ...cmd: string[]) =>
    (
      await run(join(cluster.binDir, "kubectl"), ["--kubeconfig", cluster.kubeconfig, "-n", NS, "exec", pod, "-c", "main", "--", ...cmd], {
        encoding: "buffer",
        maxBuffer: 64 << 20,
      })
    ).stdout;
  /** Whether a name exists in a directory of the pod (and no upload temp file is left there). */
  const dirNames = async (pod: string, dir: string) =>
    (await execBytes(pod, "find", dir, "-mindepth", "1", "-maxdepth", "1", "-print0")).toString("latin1").split("\0").filter(Boolean);

  beforeAll(async () => {
    cluster = await ensureCluster();
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    await cluster.kubectl(["create", "namespace", NS]);
    await cluster.kubectl(["label", "namespace", NS, `${SUITE_LABEL}=execfs`]);
    const pod = (name: string, node: string, image: string, command?: string[]) => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace: NS },
      spec: {
        nodeName: node,
        terminationGracePeriodSeconds: 1,
        containers: [{ name: "main", image, imagePullPolicy: "Never", ...(command ? { command } : {}) }],
      },
    });
    const pods = [];
    for (const [i, node] of cluster.nodes.entries()) {
      podOn[node.name] = `bb-${i}`;
      pods.push(pod(`bb-${i}`, node.name, "localhost/podfiles-busybox:1", ["sleep", "1000000"]));
    }
    pods.push(pod("no-tools", cluster.nodes[0]!.name, "localhost/podfiles-pause:1"));
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: pods }) });
    await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", "pod", "--all", "--timeout=120s"], { timeoutMs: 130_000 });

    const kubeConfig = loadKubeConfig({ kubeconfig: cluster.kubeconfig });
    server = await createServer({ resolver: new ExecResolver({ kubeConfig, pods: new KubePodSource(kubeConfig) }), logger: silentLogger }).listen(
      0,
      "127.0.0.1",
    );
    client = fileClients(server.url).grpc;
  }, 300_000);

  afterAll(async () => {
    await server?.close();
    await cluster?.kubectl(["delete", "namespace", NS, "--wait=false"]).catch(() => undefined);
  });

  it("lists, stats and downloads names with spaces, newlines, leading dashes, non-ASCII and non-UTF-8 bytes as the pod has them", async () => {
    const pod = Object.values(podOn)[0]!;
    // created by a shell in the pod (printf escapes): the names exist as these exact bytes
    await exec(
      pod,
      "sh",
      "-c",
      'mkdir -p /w && cd /w && printf a > "sp ace" && printf bb > "$(printf "new\\nline")" && printf ccc > -rf && printf d > "$(printf "caf\\303\\251")" && printf ee > "$(printf "x\\377y")" && mkdir -p "sub dir/-deep" && ln -s "../sp ace" "sub dir/link"',
    );
    const want = (await dirNames(pod, "/w")).map((n) => wireFromBytes(Buffer.from(n, "latin1")));
    expect(want).toHaveLength(6);
    expect(await listNames(client, ref(pod), "/w")).toEqual([...want].sort());
    expect(want).toContain("/w/x\\xffy");

    const stat = await client.stat({ container: ref(pod), path: "/w/new\nline" });
    expect(stat.entry).toMatchObject({ name: "new\nline", size: 2n, mode: 0o100644 });
    expect((await client.stat({ container: ref(pod), path: "/w/sub dir/link" })).entry?.symlinkTarget).toBe("../sp ace");
    const recursive = await listNames(client, ref(pod), "/w", { recursive: true });
    expect(recursive).toEqual(expect.arrayContaining(["/w/sub dir/-deep", "/w/sub dir/link"]));

    for (const [path, content] of [
      ["/w/-rf", "ccc"],
      ["/w/café", "d"],
      ["/w/x\\xffy", "ee"],
      ["/w/new\nline", "bb"],
    ] as const) {
      expect((await downloadAll(client, ref(pod), path)).data.toString("latin1"), path).toBe(content);
    }
  });

  it("downloads a file whole and by range, checked against sha256sum in the pod", async () => {
    const pod = Object.values(podOn).at(-1)!;
    await exec(pod, "sh", "-c", "head -c 3000000 /dev/urandom > /tmp/r.bin");
    const [inPod] = (await exec(pod, "sha256sum", "/tmp/r.bin")).split(" ");
    const whole = await downloadAll(client, ref(pod), "/tmp/r.bin");
    expect(whole.data.length).toBe(3_000_000);
    expect(sha256(whole.data)).toBe(inPod);
    const part = await downloadAll(client, ref(pod), "/tmp/r.bin", { offset: 1_000_001n, length: 70_000n });
    expect(part.data.equals(whole.data.subarray(1_000_001, 1_070_001))).toBe(true);
  });

  it("downloads a directory as tar (the container's tar), every member's bytes as in the pod", async () => {
    const pod = Object.values(podOn)[0]!;
    await exec(pod, "sh", "-c", 'mkdir -p "/tr/a b/-c" && head -c 100000 /dev/urandom > "/tr/a b/-c/f1" && printf hi > /tr/top && ln -s top /tr/ln');
    const got = await downloadAll(client, ref(pod), "/tr", { format: 2 });
    const members = new Map<string, { type: string; data: Buffer; link?: string }>();
    const extract = tar.extract();
    await new Promise<void>((resolve, reject) => {
      extract.on("entry", (h, stream, next) => {
        const parts: Buffer[] = [];
        stream.on("data", (c: unknown) => void parts.push(c as Buffer));
        stream.on("end", () => {
          members.set(h.name.replace(/^\.\//, ""), { type: h.type ?? "", data: Buffer.concat(parts), link: h.linkname ?? undefined });
          next();
        });
      });
      extract.on("finish", resolve);
      extract.on("error", reject);
      extract.end(got.data);
    });
    const [f1] = (await exec(pod, "sha256sum", "/tr/a b/-c/f1")).split(" ");
    expect(sha256(members.get("a b/-c/f1")!.data)).toBe(f1);
    expect(members.get("top")!.data.toString()).toBe("hi");
    expect(members.get("ln")).toMatchObject({ type: "symlink", link: "top" });
  });

  it("uploads atomically on both nodes with the digest checked; a wrong digest leaves nothing", async () => {
    for (const pod of Object.values(podOn)) {
      const data = randomBytes(8 * MiB + 17);
      const res = await uploadAll(client, ref(pod), "/up/-odd name é\n.bin", data, { makeParents: true, expectedSha256: Buffer.from(sha256(data), "hex") });
      expect(res.entry?.size).toBe(BigInt(data.length));
      const [inPod] = (await execBytes(pod, "sha256sum", "/up/-odd name é\n.bin")).toString().split(" ");
      expect(inPod).toBe(sha256(data));
      const [code, msg] = await failure(uploadAll(client, ref(pod), "/up/bad", randomBytes(100_000), { expectedSha256: Buffer.alloc(32) }));
      expect([Code.DataLoss, Code.InvalidArgument, Code.FailedPrecondition]).toContain(code);
      expect(msg).toMatch(/sha-?256|digest/i);
      expect(await dirNames(pod, "/up")).toEqual(["/up/-odd name é\n.bin"].map((n) => Buffer.from(n).toString("latin1")));
      // overwrite: fail by default, replace when asked
      expect((await failure(uploadAll(client, ref(pod), "/up/-odd name é\n.bin", Buffer.from("x"))))[0]).toBe(Code.AlreadyExists);
      await uploadAll(client, ref(pod), "/up/-odd name é\n.bin", Buffer.from("new"), { overwrite: 2 });
      expect((await execBytes(pod, "cat", "/up/-odd name é\n.bin")).toString()).toBe("new");
    }
  });

  it("chunked upload: begin, chunks, commit", async () => {
    const pod = Object.values(podOn)[0]!;
    const data = randomBytes(3 * MiB);
    const { uploadId } = await client.beginUpload({ container: ref(pod), path: "/chunked.bin", options: { expectedSha256: Buffer.from(sha256(data), "hex") } });
    for (let off = 0; off < data.length; off += MiB) {
      await client.writeUploadChunk({ container: ref(pod), path: "/chunked.bin", uploadId, offset: BigInt(off), data: data.subarray(off, off + MiB) });
    }
    await client.commitUpload({ container: ref(pod), path: "/chunked.bin", uploadId });
    expect((await exec(pod, "sha256sum", "/chunked.bin")).split(" ")[0]).toBe(sha256(data));
  });

  it("a cancelled upload leaves neither the target nor a temp file", async () => {
    const pod = Object.values(podOn).at(-1)!;
    await exec(pod, "mkdir", "-p", "/cancel");
    const abort = new AbortController();
    // the stream never ends: only the abort ends the call. expected_size as the podfiles clients
    // send it: a Node http2 client's cancel may half-close the stream first, which by gRPC rules
    // is a complete upload (src/handlers/upload.ts); the size tells the server it is not.
    async function* requests() {
      yield create(UploadRequestSchema, {
        part: { case: "header", value: { container: ref(pod), path: "/cancel/big", options: { expectedSize: BigInt(64 * MiB) } } },
      });
      for (let i = 0; i < 8; i++) yield create(UploadRequestSchema, { part: { case: "data", value: randomBytes(MiB) } });
      await new Promise((r) => abort.signal.addEventListener("abort", r));
    }
    const call = failure(client.upload(requests(), { signal: abort.signal }));
    let temp: string[] = [];
    for (let i = 0; i < 100 && temp.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      temp = (await dirNames(pod, "/cancel")).filter((n) => n.includes(".podfiles-exec-"));
    }
    expect(temp).toHaveLength(1); // the upload is under way, into its temp file
    abort.abort();
    expect((await call)[0]).toBe(Code.Canceled);
    for (let i = 0; i < 50 && (await dirNames(pod, "/cancel")).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await dirNames(pod, "/cancel")).toEqual([]);
  });

  it("MakeDirectory, Rename and Remove, checked with ls in the pod; paths are cleaned, a leading dash stays a name", async () => {
    const pod = Object.values(podOn).at(-1)!;
    await client.makeDirectory({ container: ref(pod), path: "/m/-p x/y", parents: true, mode: 0o750 });
    expect(await exec(pod, "stat", "-c", "%a %F", "--", "/m/-p x/y")).toBe("750 directory\n");
    expect((await failure(client.makeDirectory({ container: ref(pod), path: "/m/-p x" })))[0]).toBe(Code.AlreadyExists);
    await exec(pod, "sh", "-c", 'printf 1 > /m/one && printf 2 > /m/two && printf 3 > "$(printf "/m/\\377")"');
    expect((await failure(client.rename({ container: ref(pod), path: "/m/one", newPath: "/m/two" })))[0]).toBe(Code.AlreadyExists);
    await client.rename({ container: ref(pod), path: "/m/one", newPath: "/m/two", overwrite: true });
    await client.rename({ container: ref(pod), path: "/m/\\xff", newPath: "/m/../../m/-renamed" });
    expect((await exec(pod, "ls", "-A", "/m")).split("\n").filter(Boolean).sort()).toEqual(["-p x", "-renamed", "two"]);
    expect(await exec(pod, "cat", "/m/two", "/m/-renamed")).toBe("13");
    expect((await failure(client.remove({ container: ref(pod), path: "/m/-p x" })))[0]).toBe(Code.FailedPrecondition);
    await client.remove({ container: ref(pod), path: "/m/-p x", recursive: true });
    await client.remove({ container: ref(pod), path: "/m/-renamed" });
    expect((await failure(client.remove({ container: ref(pod), path: "/m/missing" })))[0]).toBe(Code.NotFound);
    expect((await failure(client.remove({ container: ref(pod), path: "/.." })))[0]).toBe(Code.InvalidArgument);
    expect((await exec(pod, "ls", "-A", "/m")).trim()).toBe("two");
  });

  it("an image without the tools answers FAILED_PRECONDITION naming what is missing", async () => {
    const calls = [
      () => listNames(client, ref("no-tools"), "/"),
      () => client.stat({ container: ref("no-tools"), path: "/pause" }),
      () => downloadAll(client, ref("no-tools"), "/", { format: 2 }),
    ];
    for (const call of calls) {
      const [code, msg] = await failure(call());
      expect(code).toBe(Code.FailedPrecondition);
      expect(msg).toMatch(/^the image has no \w+: .* needs \w+ in the container \(pod execfs-e2e\/no-tools container main\)$/);
    }
  });

  it("podfiles serve --exec (the built CLI) answers through pods/exec", async () => {
    const pod = Object.values(podOn)[0]!;
    const child = spawn(process.execPath, [join(repoRoot, "bin/podfiles.js"), "serve", "--exec", "--kubeconfig", cluster.kubeconfig, "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        setTimeout(() => reject(new Error("podfiles serve --exec did not log listening within 30 s")), 30_000).unref();
        let err = "";
        child.stderr.on("data", (d: Buffer) => {
          err += d.toString();
          const m = /"msg":"listening".*?"port":(\d+)/.exec(err);
          if (m) resolve(Number(m[1]));
        });
        child.once("exit", (code) => reject(new Error(`podfiles serve --exec exited with ${code} (built? npm run build): ${err}`)));
      });
      child.stdout.resume();
      const cli = fileClients(`http://127.0.0.1:${port}`).grpc;
      expect(await listNames(cli, ref(pod), "/")).toEqual(expect.arrayContaining(["/bin", "/etc", "/proc"]));
    } finally {
      child.kill("SIGTERM");
    }
  });

  it("measures 256 MiB up and down through ExecFs against kubectl cp on the same pod", async () => {
    const pod = Object.values(podOn).at(-1)!;
    const dir = mkdtempSync(join(tmpdir(), "execfs-bench-"));
    try {
      const data = randomBytes(256 * MiB);
      writeFileSync(join(dir, "src.bin"), data);
      const mibs = (ms: number) => (256 / (ms / 1000)).toFixed(1);
      let t = performance.now();
      await uploadAll(client, ref(pod), "/bench/exec.bin", data, { makeParents: true });
      const up = performance.now() - t;
      t = performance.now();
      const down = await downloadAll(client, ref(pod), "/bench/exec.bin");
      const downMs = performance.now() - t;
      expect(sha256(down.data)).toBe(sha256(data));
      t = performance.now();
      await cluster.kubectl(["cp", join(dir, "src.bin"), `${NS}/${pod}:/bench/cp.bin`, "-c", "main"], { timeoutMs: 600_000 });
      const cpUp = performance.now() - t;
      t = performance.now();
      await cluster.kubectl(["cp", `${NS}/${pod}:/bench/cp.bin`, join(dir, "back.bin"), "-c", "main"], { timeoutMs: 600_000 });
      const cpDown = performance.now() - t;
      expect(statSync(join(dir, "back.bin")).size).toBe(256 * MiB);
      expect(sha256(readFileSync(join(dir, "back.bin")))).toBe(sha256(data));
      console.log(
        `256 MiB to/from ${pod}: ExecFs upload ${mibs(up)} MiB/s, download ${mibs(downMs)} MiB/s; kubectl cp upload ${mibs(cpUp)} MiB/s, download ${mibs(cpDown)} MiB/s`,
      );
      await exec(pod, "rm", "-rf", "/bench");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});
