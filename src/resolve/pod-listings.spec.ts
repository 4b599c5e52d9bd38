import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { PodSource } from "./kube-pods.js";
import { listPodContainers, podListings } from "./pod-listings.js";

const pod = (name: string): V1Pod => ({ metadata: { namespace: "n", name }, spec: { containers: [{ name: "c" }] } });

/** An in-memory PodSource (stand-in: only the paging contract is under test here; the API's own paging runs in test/auth/list-containers.spec.ts). */
function pagedSource(count: number, asked: number[]): PodSource {
  const all = Array.from({ length: count }, (_, i) => pod(`p${i}`));
  return {
    getPod: async () => Promise.reject(new Error("unused")),
    listPods: async (_ns, limit, next) => {
      asked.push(limit);
      const from = Number(next ?? 0);
      return { pods: all.slice(from, from + limit), next: from + limit < count ? String(from + limit) : undefined };
    },
  };
}

describe("listPodContainers", () => {
  it("pages through the list and stops at the bound, asking no more than it keeps", async () => {
    const asked: number[] = [];
    const pages: number[] = [];
    for await (const page of listPodContainers(pagedSource(25, asked), { namespace: "" }, undefined, { pageSize: 10, maxPods: 15 })) pages.push(page.length);
    expect(pages).toEqual([10, 5]);
    expect(asked).toEqual([10, 5]);
  });

  it("a cancelled call stops before the next page", async () => {
    const asked: number[] = [];
    const ac = new AbortController();
    const it = listPodContainers(pagedSource(25, asked), { namespace: "" }, ac.signal, { pageSize: 10, maxPods: 100 });
    await it.next();
    ac.abort();
    await expect(it.next()).rejects.toThrow();
    expect(asked).toEqual([10]);
  });

  it("a pod being deleted is not running; without annotation the first container is the default", () => {
    const p: V1Pod = {
      metadata: { namespace: "n", name: "p", deletionTimestamp: new Date() },
      spec: { nodeName: "x", containers: [{ name: "a", image: "i" }, { name: "b" }] },
      status: { containerStatuses: [{ name: "a", image: "i", imageID: "", ready: true, restartCount: 0, state: { running: {} } }] },
    };
    expect(podListings(p)).toEqual([
      { namespace: "n", pod: "p", container: "a", node: "x", running: false, defaultContainer: true, image: "i" },
      { namespace: "n", pod: "p", container: "b", node: "x", running: false, defaultContainer: false, image: "" },
    ]);
  });
});
