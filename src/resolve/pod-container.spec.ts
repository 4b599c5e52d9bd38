import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { containerNameFor, podContainer } from "./pod-container.js";

const ID = "0123456789abcdef".repeat(4);

function pod(over: Partial<V1Pod> = {}): V1Pod {
  return {
    metadata: { namespace: "ns", name: "web", annotations: {} },
    spec: {
      nodeName: "node-a",
      containers: [{ name: "app" }, { name: "sidecar" }],
      initContainers: [{ name: "init" }],
      ephemeralContainers: [{ name: "debug" }],
    },
    status: {
      phase: "Running",
      containerStatuses: [
        { name: "app", containerID: `containerd://${ID}`, state: { running: {} }, ready: true, restartCount: 0, image: "", imageID: "" },
        {
          name: "sidecar",
          containerID: `cri-o://${ID}`,
          state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 5m0s" } },
          ready: false,
          restartCount: 3,
          image: "",
          imageID: "",
        },
      ],
      initContainerStatuses: [
        {
          name: "init",
          containerID: `containerd://${ID}`,
          state: { terminated: { exitCode: 0, reason: "Completed" } },
          ready: false,
          restartCount: 0,
          image: "",
          imageID: "",
        },
      ],
      ephemeralContainerStatuses: [
        { name: "debug", containerID: `containerd://${ID}`, state: { running: {} }, ready: false, restartCount: 0, image: "", imageID: "" },
      ],
    },
    ...over,
  };
}

describe("podContainer", () => {
  it("returns the container ID without the runtime prefix", () => {
    expect(podContainer(pod(), "app", "node-a")).toEqual({ name: "app", runtime: "containerd", containerId: ID });
    expect(podContainer(pod(), "debug", "node-a").containerId).toBe(ID);
  });

  it("picks the default-container annotation, else the first container", () => {
    expect(containerNameFor(pod(), "")).toBe("app");
    const p = pod();
    p.metadata!.annotations!["kubectl.kubernetes.io/default-container"] = "sidecar";
    expect(containerNameFor(p, "")).toBe("sidecar");
  });

  it("names state and reason of a container that is not running", () => {
    expect(() => podContainer(pod(), "sidecar", "node-a")).toThrow(/waiting \(reason CrashLoopBackOff: back-off 5m0s\)/);
    expect(() => podContainer(pod(), "init", "node-a")).toThrow(/terminated \(reason Completed, exit code 0\)/);
    try {
      podContainer(pod(), "init", "node-a");
    } catch (e) {
      expect(e).toMatchObject({ kind: "failed-precondition" });
    }
  });

  it("NOT_FOUND for an unknown container, UNAVAILABLE naming the node for a pod elsewhere", () => {
    expect(() => podContainer(pod(), "nope", "node-a")).toThrow(
      expect.objectContaining({ kind: "not-found", message: expect.stringContaining("app, sidecar, init, debug") }),
    );
    expect(() => podContainer(pod(), "app", "node-b")).toThrow(
      expect.objectContaining({ kind: "unavailable", message: expect.stringContaining("runs on node node-a") }),
    );
    expect(() => podContainer(pod({ spec: { containers: [{ name: "app" }] } }), "app", "node-b")).toThrow(/not scheduled/);
  });
});
