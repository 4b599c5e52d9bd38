// PodPlacement: spec.nodeName through a PodSource (a counting stand-in here), kept for its TTL.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { notFound } from "../errors.js";
import type { PodSource } from "./kube-pods.js";
import { PodPlacement } from "./pod-placement.js";

class CountingPods implements PodSource {
  gets = 0;
  nodes = new Map<string, string | undefined>();
  async getPod(namespace: string, name: string): Promise<V1Pod> {
    this.gets++;
    if (!this.nodes.has(name)) throw notFound(`pod ${namespace}/${name} not found`);
    return { metadata: { name, namespace }, spec: { nodeName: this.nodes.get(name), containers: [] } };
  }
}

describe("PodPlacement", () => {
  it("reads the node once per TTL; errors and unscheduled pods are not kept", async () => {
    const pods = new CountingPods();
    pods.nodes.set("p", "node-b").set("pending", undefined);
    const placement = new PodPlacement({ pods, ttlMs: 100 });
    expect(await placement.nodeOf("ns", "p")).toBe("node-b");
    expect(await placement.nodeOf("ns", "p")).toBe("node-b");
    expect(pods.gets).toBe(1);
    await new Promise((r) => setTimeout(r, 120));
    pods.nodes.set("p", "node-c");
    expect(await placement.nodeOf("ns", "p")).toBe("node-c");
    expect(pods.gets).toBe(2);
    expect(await placement.nodeOf("ns", "pending")).toBeUndefined();
    expect(await placement.nodeOf("ns", "pending")).toBeUndefined();
    expect(pods.gets).toBe(4);
    await expect(placement.nodeOf("ns", "gone")).rejects.toThrow("pod ns/gone not found");
  });

  it("keeps at most maxEntries placements", async () => {
    const pods = new CountingPods();
    for (let i = 0; i < 5; i++) pods.nodes.set(`p${i}`, "n");
    const placement = new PodPlacement({ pods, maxEntries: 2 });
    for (let i = 0; i < 5; i++) await placement.nodeOf("ns", `p${i}`);
    expect(pods.gets).toBe(5);
    await placement.nodeOf("ns", "p4");
    await placement.nodeOf("ns", "p0");
    expect(pods.gets).toBe(6);
  });
});
