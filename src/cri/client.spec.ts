/**
 * CriClient against a real containerd (scripts/containers.sh, needs root), and the subset proto
 * checked field by field against the upstream CRI api.proto from the Go module cache.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startContainerRuntime, type ContainerRuntime } from "../../test/harness/containers.js";
import { CriTestClient } from "../../test/harness/cri-test-client.js";
import { CriClient, CriError, DEFAULT_CRI_SOCKETS, defaultCriProtoPath, detectCriSocket, parseContainerInfo } from "./client.js";

const CRI_API_VERSION = "v0.34.4";

function upstreamApiProto(): string {
  let modcache = process.env["GOMODCACHE"];
  if (!modcache) {
    try {
      modcache = execFileSync("go", ["env", "GOMODCACHE"], { encoding: "utf8" }).trim();
    } catch {
      modcache = join(homedir(), "go/pkg/mod");
    }
  }
  const p = join(modcache, `k8s.io/cri-api@${CRI_API_VERSION}/pkg/apis/runtime/v1/api.proto`);
  // fetch the module through the Go proxy when it is not cached yet (a fresh CI machine), rather than skip
  if (!existsSync(p)) execFileSync("go", ["mod", "download", `k8s.io/cri-api@${CRI_API_VERSION}`], { stdio: "ignore", timeout: 120_000 });
  return p;
}

describe("parseContainerInfo", () => {
  it("reads pid, sandbox ID and cgroups path from info[info]", () => {
    const info = {
      info: JSON.stringify({ sandboxID: "abc", pid: 4242, runtimeSpec: { linux: { cgroupsPath: "/x/pod1/c1" } } }),
    };
    expect(parseContainerInfo(info)).toMatchObject({ pid: 4242, sandboxId: "abc", cgroupsPath: "/x/pod1/c1" });
  });
  it("tolerates missing, invalid and zero pids", () => {
    expect(parseContainerInfo({}).pid).toBeUndefined();
    expect(parseContainerInfo({ info: "not json" }).pid).toBeUndefined();
    expect(parseContainerInfo({ info: JSON.stringify({ pid: 0 }) }).pid).toBeUndefined();
    expect(parseContainerInfo({ info: "null" }).runtimeInfo).toBeUndefined();
  });
});

describe("cri-subset.proto", () => {
  const upstream = upstreamApiProto();
  it(`matches k8s.io/cri-api ${CRI_API_VERSION} field numbers and types`, () => {
    const opts = { keepCase: true };
    const ours = protoLoader.loadSync(defaultCriProtoPath(), opts);
    const theirs = protoLoader.loadSync(upstream, opts);
    type Field = { name: string; number: number; type: string; label: string; typeName: string };
    type Def = { format?: string; type?: { field?: Field[]; value?: { name: string; number: number }[] } };
    let checked = 0;
    for (const [name, anyDef] of Object.entries(ours)) {
      const def = anyDef as Def;
      const other = theirs[name] as Def | undefined;
      expect(other, `${name} is in the upstream API`).toBeDefined();
      if (def.format === "Protocol Buffer 3 DescriptorProto") {
        const theirFields = new Map((other!.type!.field ?? []).map((f) => [f.name, f]));
        for (const f of def.type!.field ?? []) {
          const t = theirFields.get(f.name);
          expect(t, `${name}.${f.name} exists upstream`).toBeDefined();
          expect({ number: t!.number, type: t!.type, label: t!.label, typeName: t!.typeName }, `${name}.${f.name}`).toEqual({
            number: f.number,
            type: f.type,
            label: f.label,
            typeName: f.typeName,
          });
          checked++;
        }
      } else if (def.format === "Protocol Buffer 3 EnumDescriptorProto") {
        const theirValues = new Map((other!.type!.value ?? []).map((v) => [v.name, v.number]));
        for (const v of def.type!.value ?? []) {
          expect(theirValues.get(v.name), `${name}.${v.name}`).toBe(v.number);
          checked++;
        }
      } else {
        // a service: every method exists upstream at the same path
        const theirService = theirs[name] as protoLoader.ServiceDefinition;
        for (const [method, m] of Object.entries(anyDef as protoLoader.ServiceDefinition)) {
          expect(theirService[method], `${name}/${method} exists upstream`).toBeDefined();
          expect(theirService[method]!.path).toBe(m.path);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(150);
  });
});

describe.skipIf(process.getuid?.() !== 0)("CriClient against a private containerd (root)", { timeout: 120_000 }, () => {
  let rt: ContainerRuntime;
  beforeAll(async () => {
    rt = await startContainerRuntime();
  }, 600_000);
  afterAll(async () => {
    await rt?.stop();
  }, 120_000);

  it("answers Version and lists the imported images", async () => {
    const client = await CriTestClient.connect(rt.criSocket, { timeoutMs: 5000 });
    try {
      const v = await client.version();
      expect(v.runtimeName).toBe("containerd");
      expect(v.runtimeApiVersion).toBe("v1");
      const images = await client.listImages();
      const tags = images.flatMap((i) => i.repoTags);
      expect(tags).toEqual(expect.arrayContaining(["localhost/podfiles-pause:1", "localhost/podfiles-busybox:1"]));
      expect(await client.imageStatus("localhost/podfiles-busybox:1")).toMatchObject({ repoTags: ["localhost/podfiles-busybox:1"] });
      expect(await client.imageStatus("localhost/no-such-image:1")).toBeUndefined();
    } finally {
      client.close();
    }
  });

  it("names the socket and the RPC in its errors", async () => {
    const err = await rt.client.containerStatus("0000000000000000000000000000000000000000000000000000000000000000").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CriError);
    expect((err as CriError).code).toBe(5); // NOT_FOUND
    expect((err as CriError).message).toContain(rt.criSocket);
    expect((err as CriError).message).toContain("ContainerStatus");

    const missing = join(tmpdir(), "podfiles-no-such.sock");
    const e2 = await CriClient.connect(missing, { timeoutMs: 500 }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(CriError);
    expect((e2 as Error).message).toContain(missing);
  });

  it("detectCriSocket returns the first socket that answers", async () => {
    const dir = mkdtempSync(join(tmpdir(), "podfiles-cri-"));
    try {
      const notASocket = join(dir, "plain-file.sock");
      writeFileSync(notASocket, "");
      const found = await detectCriSocket([join(dir, "missing.sock"), notASocket, rt.criSocket], { timeoutMs: 1000 });
      expect(found.socketPath).toBe(rt.criSocket);
      expect(found.version.runtimeName).toBe("containerd");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("default candidates include the usual runtimes and their /host variants", () => {
    expect(DEFAULT_CRI_SOCKETS).toContain("/run/containerd/containerd.sock");
    expect(DEFAULT_CRI_SOCKETS).toContain("/run/crio/crio.sock");
    expect(DEFAULT_CRI_SOCKETS).toContain("/host/run/k3s/containerd/containerd.sock");
  });
});
