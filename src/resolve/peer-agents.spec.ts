// PeerAgents' choice of agent per node, over a stand-in informer (a list of pods and an error
// hook; the real informer on a real API server is exercised by test/e2e/forward.spec.ts).
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { FileServiceError } from "../errors.js";
import { PeerAgents, type PodInformer } from "./peer-agents.js";

class StandInInformer {
  pods: V1Pod[] = [];
  starts = 0;
  private errorHandlers: ((err?: unknown) => void)[] = [];
  on(verb: string, fn: (err?: unknown) => void) {
    if (verb === "error") this.errorHandlers.push(fn);
  }
  off() {}
  async start() {
    this.starts++;
  }
  async stop() {}
  get() {
    return undefined;
  }
  list() {
    return this.pods;
  }
  fail(err: unknown) {
    for (const h of this.errorHandlers) h(err);
  }
}

const pod = (name: string, node: string, ip: string, o: { ready?: boolean; deleting?: boolean; created?: string } = {}): V1Pod => ({
  metadata: { name, creationTimestamp: (o.created ?? "2026-11-30T10:00:00Z") as unknown as Date, ...(o.deleting ? { deletionTimestamp: new Date() } : {}) },
  spec: { nodeName: node, containers: [] },
  status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }] },
});

describe("PeerAgents", () => {
  it("gives the ready agent of a node, with the agents' port", () => {
    const inf = new StandInInformer();
    inf.pods = [pod("a", "node-a", "10.0.0.1"), pod("b", "node-b", "10.0.0.2"), pod("v6", "node-6", "fd00::2")];
    const peers = new PeerAgents({ informer: inf as unknown as PodInformer, port: 8080 });
    expect(peers.agentOn("node-b")).toEqual({ node: "node-b", address: "10.0.0.2:8080" });
    expect(peers.agentOn("node-6").address).toBe("[fd00::2]:8080");
  });

  it("a node whose agent is not ready, terminating or absent: FAILED_PRECONDITION naming the node", () => {
    const inf = new StandInInformer();
    inf.pods = [pod("b", "node-b", "10.0.0.2", { ready: false }), pod("c", "node-c", "10.0.0.3", { deleting: true })];
    const peers = new PeerAgents({ informer: inf as unknown as PodInformer, port: 8080 });
    for (const node of ["node-b", "node-c", "node-x"]) {
      let err: unknown;
      try {
        peers.agentOn(node);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FileServiceError);
      expect((err as FileServiceError).kind).toBe("failed-precondition");
      expect((err as Error).message).toBe(`no ready podfiles agent on node ${node}`);
      expect(peers.hasReadyAgent(node)).toBe(false);
    }
  });

  it("hasReadyAgent: true only while the node's agent is ready (read per call)", () => {
    const inf = new StandInInformer();
    inf.pods = [pod("b", "node-b", "10.0.0.2")];
    const peers = new PeerAgents({ informer: inf as unknown as PodInformer, port: 8080 });
    expect(peers.hasReadyAgent("node-b")).toBe(true);
    expect(peers.hasReadyAgent("node-a")).toBe(false);
    inf.pods = [pod("b", "node-b", "10.0.0.2", { ready: false })];
    expect(peers.hasReadyAgent("node-b")).toBe(false);
  });

  it("during a rollout, the newest ready pod; the cache is read per call (a restarted agent is seen at once)", () => {
    const inf = new StandInInformer();
    inf.pods = [pod("old", "node-b", "10.0.0.2", { created: "2026-11-30T10:00:00Z" }), pod("new", "node-b", "10.0.0.9", { created: "2026-11-30T11:00:00Z" })];
    const peers = new PeerAgents({ informer: inf as unknown as PodInformer, port: 1 });
    expect(peers.agentOn("node-b").address).toBe("10.0.0.9:1");
    inf.pods = [pod("newer", "node-b", "10.0.0.10")];
    expect(peers.agentOn("node-b").address).toBe("10.0.0.10:1");
  });

  it("restarts the watch after an error (client-node's informer stops on one)", async () => {
    const inf = new StandInInformer();
    const peers = new PeerAgents({ informer: inf as unknown as PodInformer, port: 1, restartDelayMs: 10 });
    await peers.start();
    inf.fail(new Error("watch closed"));
    await new Promise((r) => setTimeout(r, 50));
    expect(inf.starts).toBe(2);
    await peers.close();
    inf.fail(new Error("after close"));
    await new Promise((r) => setTimeout(r, 50));
    expect(inf.starts).toBe(2);
  });
});
