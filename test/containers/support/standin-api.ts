// A STAND-IN for the Kubernetes API server (not a real one): answers
// GET /api/v1/namespaces/NS/pods/NAME with pod JSON that tests build from REAL containers run by
// the harness, so the agent's Kubernetes client (@kubernetes/client-node, from a kubeconfig file)
// is exercised over plain HTTP (client-node only allows it with insecure-skip-tls-verify) while the cluster harness is not available. Named as such in the tests.
import { createServer, type Server } from "node:http";
import { writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import type { V1Pod } from "@kubernetes/client-node";
import type { RunningPod } from "../../harness/containers.js";

export interface StandInApi {
  url: string;
  pods: Map<string, V1Pod>;
  requests: string[];
  /** Writes a kubeconfig (context "standin") pointing at this server. */
  writeKubeconfig(path: string): void;
  close(): Promise<void>;
}

export async function startStandInApi(): Promise<StandInApi> {
  const pods = new Map<string, V1Pod>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/?]+)/.exec(req.url ?? "");
    const pod = m && req.method === "GET" ? pods.get(`${m[1]}/${m[2]}`) : undefined;
    res.setHeader("Content-Type", "application/json");
    if (!pod) {
      res.statusCode = 404;
      const name = m?.[2] ?? "";
      res.end(
        JSON.stringify({
          kind: "Status",
          apiVersion: "v1",
          status: "Failure",
          message: `pods "${name}" not found`,
          reason: "NotFound",
          details: { name, kind: "pods" },
          code: 404,
        }),
      );
      return;
    }
    res.end(JSON.stringify({ kind: "Pod", apiVersion: "v1", ...pod }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    pods,
    requests,
    writeKubeconfig(path) {
      writeFileSync(
        path,
        [
          "apiVersion: v1",
          "kind: Config",
          "clusters:",
          "- name: standin",
          `  cluster: { server: "${url}", insecure-skip-tls-verify: true }`,
          "users:",
          "- name: tester",
          "  user: { token: standin-token }",
          "contexts:",
          "- name: standin",
          "  context: { cluster: standin, user: tester }",
          "- name: other",
          "  context: { cluster: standin, user: tester }",
          "current-context: other",
          "",
        ].join("\n"),
      );
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Pod JSON as the API server would show a pod the harness runs, on node `nodeName`. */
export function podJson(pod: RunningPod, nodeName: string, overrides: { annotations?: Record<string, string> } = {}): V1Pod {
  return {
    metadata: { namespace: pod.namespace, name: pod.name, uid: pod.uid, annotations: overrides.annotations ?? {} },
    spec: { nodeName, containers: pod.containers.map((c) => ({ name: c.name, image: "localhost/podfiles-busybox:1" })) },
    status: {
      phase: "Running",
      containerStatuses: pod.containers.map((c) => ({
        name: c.name,
        containerID: `containerd://${c.id}`,
        state: { running: { startedAt: new Date() } },
        ready: true,
        restartCount: c.attempt,
        image: "localhost/podfiles-busybox:1",
        imageID: "",
      })),
    },
  };
}

/** Marks a container terminated in the pod JSON, as the kubelet reports a stopped container. */
export function markTerminated(pod: V1Pod, container: string, reason = "Completed", exitCode = 0): void {
  const s = pod.status?.containerStatuses?.find((c) => c.name === container);
  if (s) s.state = { terminated: { exitCode, reason } };
}
