// NodeAwareResolver's choice between this node's resolver and the exec resolver, over stand-ins
// (a placement table, an agent table and two recording resolvers; the real KubeResolver and
// ExecResolver on a real cluster are exercised by test/e2e/exec-fallback.spec.ts).
import { describe, expect, it } from "vitest";
import { FileServiceError, notFound } from "../errors.js";
import type { ContainerFs } from "../fs/container-fs.js";
import { NodeAwareResolver } from "./node-aware-resolver.js";
import type { ContainerName, Resolver } from "./resolver.js";

class StandInResolver implements Resolver {
  calls: string[] = [];
  closed = false;
  constructor(readonly tag: string) {}
  async resolve(name: ContainerName): Promise<ContainerFs> {
    this.calls.push(`${name.namespace}/${name.pod}`);
    return { standIn: this.tag } as unknown as ContainerFs;
  }
  async close() {
    this.closed = true;
  }
}

function setup(placement: Record<string, string | undefined>, agents: Set<string>) {
  const local = new StandInResolver("local");
  const exec = new StandInResolver("exec");
  const execLog: string[] = [];
  const r = new NodeAwareResolver({
    self: "node-a",
    nodeOf: async (ns, pod) => {
      const key = `${ns}/${pod}`;
      if (!(key in placement)) throw notFound(`pod ${key} not found`);
      return placement[key];
    },
    hasReadyAgent: (node) => agents.has(node),
    local,
    exec,
    onExec: (n, node) => execLog.push(`${n.pod}@${node}`),
  });
  return { r, local, exec, execLog };
}

const name = (pod: string): ContainerName => ({ namespace: "ns", pod, container: "" });
const tagOf = (fs: ContainerFs) => (fs as unknown as { standIn: string }).standIn;

describe("NodeAwareResolver", () => {
  it("this node's pods → local; a pod on a node without a ready agent → exec (and told)", async () => {
    const { r, local, exec, execLog } = setup({ "ns/here": "node-a", "ns/bare": "node-b" }, new Set(["node-a"]));
    expect(tagOf(await r.resolve(name("here")))).toBe("local");
    expect(tagOf(await r.resolve(name("bare")))).toBe("exec");
    expect(local.calls).toEqual(["ns/here"]);
    expect(exec.calls).toEqual(["ns/bare"]);
    expect(execLog).toEqual(["bare@node-b"]);
  });

  it("a pod on a node whose agent is ready, or not scheduled yet → local (which answers its UNAVAILABLE), never exec", async () => {
    const { r, local, exec } = setup({ "ns/there": "node-c", "ns/pending": undefined }, new Set(["node-a", "node-c"]));
    expect(tagOf(await r.resolve(name("there")))).toBe("local");
    expect(tagOf(await r.resolve(name("pending")))).toBe("local");
    expect(local.calls).toEqual(["ns/there", "ns/pending"]);
    expect(exec.calls).toEqual([]);
  });

  it("the agents' readiness is read per call: an agent that comes back takes its pods back from exec", async () => {
    const agents = new Set(["node-a"]);
    const { r } = setup({ "ns/bare": "node-b" }, agents);
    expect(tagOf(await r.resolve(name("bare")))).toBe("exec");
    agents.add("node-b");
    expect(tagOf(await r.resolve(name("bare")))).toBe("local");
  });

  it("the placement's error is the call's (NOT_FOUND), and neither resolver is asked; no namespace → INVALID_ARGUMENT", async () => {
    const { r, local, exec } = setup({}, new Set());
    const err = await r.resolve(name("gone")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FileServiceError);
    expect((err as FileServiceError).kind).toBe("not-found");
    const bad = await r.resolve({ namespace: "", pod: "x", container: "" }).catch((e: unknown) => e);
    expect((bad as FileServiceError).kind).toBe("invalid-argument");
    expect(local.calls).toEqual([]);
    expect(exec.calls).toEqual([]);
  });

  it("close closes both", async () => {
    const { r, local, exec } = setup({}, new Set());
    await r.close();
    expect([local.closed, exec.closed]).toEqual([true, true]);
  });
});
