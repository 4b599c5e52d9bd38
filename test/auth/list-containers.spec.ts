// ListContainers filtered by what the caller may read: the agent's resolver (KubeResolver over the
// real client-node PodSource) lists pods from the stand-in API server (paged as the API server
// pages), and the server keeps only the pods the caller's RBAC (SubjectAccessReview) or JWT scope
// allows `get` on; local mode lists its one container. Every protocol goes through the same handler.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import jwt from "jsonwebtoken";
import type { V1Pod } from "@kubernetes/client-node";
import { FileService } from "../../gen/ts/podfiles/v1/files_pb.js";
import { kubeReviews } from "../../src/auth/kube-client.js";
import { createAuth } from "../../src/auth/index.js";
import { silentLogger } from "../../src/log.js";
import { CgroupPidSource } from "../../src/resolve/cgroup-pid-source.js";
import { ContainerRoots } from "../../src/resolve/container-roots.js";
import { KubePodSource } from "../../src/resolve/kube-pods.js";
import { KubeResolver } from "../../src/resolve/kube-resolver.js";
import { LIST_PAGE_SIZE } from "../../src/resolve/pod-listings.js";
import { createServer, type RunningServer } from "../../src/server/server.js";
import { bearer, hsSecret, key, startAuthServer, startStandInApiServer, type AuthTestServer } from "./support.js";
import { codeAndMessage as code } from "../support/status.js";

const pod = (namespace: string, name: string, containers: string[], o: { node?: string; running?: string[]; defaultContainer?: string } = {}): V1Pod => ({
  metadata: { namespace, name, ...(o.defaultContainer ? { annotations: { "kubectl.kubernetes.io/default-container": o.defaultContainer } } : {}) },
  spec: { nodeName: o.node ?? "node-a", containers: containers.map((c) => ({ name: c, image: `registry.example/${c}:1` })) },
  status: {
    phase: "Running",
    containerStatuses: containers.map((c) => ({
      name: c,
      image: `registry.example/${c}:1`,
      imageID: "",
      ready: true,
      restartCount: 0,
      state: (o.running ?? containers).includes(c) ? { running: { startedAt: new Date(0) } } : { waiting: { reason: "CrashLoopBackOff" } },
    })),
  },
});

// more pods than one API page, so the handler streams several pages
const filler = Array.from({ length: LIST_PAGE_SIZE + 10 }, (_, i) => pod("bulk", `bulk-${i}`, ["app"]));
const PODS = [
  pod("team-a", "a-1", ["app", "sidecar"], { defaultContainer: "sidecar", running: ["app"] }),
  pod("team-a", "a-2", ["web"], { node: "node-b" }),
  pod("team-b", "b-1", ["db"]),
  pod("team-b", "b-2", ["db"]),
  pod("kube-system", "k-1", ["etcd"]),
  ...filler,
];

type Listed = { namespace: string; pod: string; container: string; node: string; running: boolean; defaultContainer: boolean; image: string };

async function list(
  files: Client<typeof FileService>,
  headers: { headers: Record<string, string> },
  namespace = "",
): Promise<{ pages: number; containers: Listed[] }> {
  let pages = 0;
  const containers: Listed[] = [];
  for await (const page of files.listContainers({ namespace }, headers)) {
    pages++;
    for (const c of page.containers)
      containers.push({
        namespace: c.namespace,
        pod: c.pod,
        container: c.container,
        node: c.node,
        running: c.running,
        defaultContainer: c.defaultContainer,
        image: c.image,
      });
  }
  return { pages, containers };
}
const names = (l: { containers: Listed[] }) => l.containers.map((c) => `${c.namespace}/${c.pod}/${c.container}`);

describe("ListContainers on the agent's resolver (stand-in API server: pods, TokenReview, SubjectAccessReview)", () => {
  let api: Awaited<ReturnType<typeof startStandInApiServer>>;
  let server: RunningServer;
  let files: Client<typeof FileService>;
  const secret = hsSecret();
  const token = (scopes: object) =>
    jwt.sign({ scopes }, secret, { algorithm: "HS256", keyid: "k", issuer: "podfiles", audience: "podfiles", subject: "s", expiresIn: 60 });

  beforeAll(async () => {
    api = await startStandInApiServer({
      tokens: {
        "token-team-a": { username: "system:serviceaccount:team-a:reader", audiences: ["podfiles"] },
        "token-b-1": { username: "system:serviceaccount:team-b:one", audiences: ["podfiles"] },
        "token-writer-only": { username: "system:serviceaccount:team-b:writer", audiences: ["podfiles"] },
        "token-nogrant": { username: "system:serviceaccount:x:nobody", audiences: ["podfiles"] },
      },
      grants: [
        { user: "system:serviceaccount:team-a:reader", namespace: "team-a", verbs: ["get"] },
        { user: "system:serviceaccount:team-b:one", namespace: "team-b", verbs: ["get"], pods: ["b-1"] },
        { user: "system:serviceaccount:team-b:writer", namespace: "team-b", verbs: ["create", "update", "delete"] },
      ],
      pods: PODS,
    });
    const auth = createAuth({
      logger: silentLogger,
      kubernetes: { reviews: kubeReviews(api.kubeConfig), audiences: ["podfiles"] },
      jwt: { keys: [key("k", secret)] },
    });
    // the roots are never reached: listing reads the API only
    const resolver = new KubeResolver({ pods: new KubePodSource(api.kubeConfig), roots: new ContainerRoots({ pids: new CgroupPidSource("/proc") }) });
    server = await createServer({ resolver, logger: silentLogger, interceptors: [auth.interceptor], registerExtra: auth.registerExtra }).listen(0);
    files = createClient(FileService, createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }));
  });
  afterAll(async () => {
    await server?.close();
    await api?.close();
  });

  it("a namespace-wide get grant: that namespace's containers, with node, state, default container and image", async () => {
    const before = api.calls.subjectAccessReviews;
    const l = await list(files, bearer("token-team-a"));
    expect(names(l)).toEqual(["team-a/a-1/app", "team-a/a-1/sidecar", "team-a/a-2/web"]);
    expect(l.containers[0]).toEqual({
      namespace: "team-a",
      pod: "a-1",
      container: "app",
      node: "node-a",
      running: true,
      defaultContainer: false,
      image: "registry.example/app:1",
    });
    expect(l.containers[1]).toMatchObject({ container: "sidecar", running: false, defaultContainer: true });
    expect(l.containers[2]).toMatchObject({ node: "node-b", defaultContainer: true });
    // one nameless review per namespace, then one per pod only where that said no: 4 namespaces + 2 + 1 + 510 pods
    expect(api.calls.subjectAccessReviews - before).toBe(4 + 2 + 1 + filler.length);
  });

  it("a grant naming one pod (resourceNames): only that pod; create/update/delete without get: nothing", async () => {
    expect(names(await list(files, bearer("token-b-1")))).toEqual(["team-b/b-1/db"]);
    expect(names(await list(files, bearer("token-writer-only")))).toEqual([]);
    expect(names(await list(files, bearer("token-nogrant")))).toEqual([]);
  });

  it("a namespace asked for: only its pods are listed from the API", async () => {
    const lists = api.calls.podLists;
    expect(names(await list(files, bearer("token-team-a"), "team-a"))).toEqual(["team-a/a-1/app", "team-a/a-1/sidecar", "team-a/a-2/web"]);
    expect(api.calls.podLists - lists).toBe(1);
    expect(names(await list(files, bearer("token-team-a"), "team-b"))).toEqual([]);
  });

  it("a JWT scope decides as it does for ListFiles: namespaces, pods", async () => {
    expect(names(await list(files, bearer(token({ namespaces: ["team-b"], verbs: ["get"] }))))).toEqual(["team-b/b-1/db", "team-b/b-2/db"]);
    expect(names(await list(files, bearer(token({ namespaces: ["*"], pods: ["a-2"], verbs: ["get"] }))))).toEqual(["team-a/a-2/web"]);
    expect(names(await list(files, bearer(token({ namespaces: ["*"], verbs: ["create"] }))))).toEqual([]);
    const all = await list(files, bearer(token({ namespaces: ["*"], verbs: ["*"] })));
    expect(all.containers.length).toBe(6 + filler.length);
    expect(all.pages).toBeGreaterThanOrEqual(2); // the API's pages are streamed as they come
  });

  it("bad input and no credentials get a clear status", async () => {
    const [c, msg] = await code(list(files, bearer("token-team-a"), "Not/A Namespace"));
    expect(c).toBe(Code.InvalidArgument);
    expect(msg).toMatch(/not a namespace name/);
    expect((await code(list(files, { headers: {} })))[0]).toBe(Code.Unauthenticated);
    expect((await code(list(files, bearer("token-unknown"))))[0]).toBe(Code.Unauthenticated);
  });
});

describe("ListContainers in local mode", () => {
  let s: AuthTestServer;
  const secret = hsSecret();
  beforeAll(async () => {
    s = await startAuthServer({ jwt: { keys: [key("k", secret)] } });
  });
  afterAll(async () => s?.close());
  const token = (scopes: object) =>
    jwt.sign({ scopes }, secret, { algorithm: "HS256", keyid: "k", issuer: "podfiles", audience: "podfiles", subject: "s", expiresIn: 60 });

  it("the one container served, to a caller who may read it; nothing to one who may not", async () => {
    const ok = await list(s.clients.grpc, bearer(token({ namespaces: ["local"], verbs: ["get"] })));
    expect(ok.containers).toEqual([{ namespace: "local", pod: "local", container: "local", node: "", running: true, defaultContainer: true, image: "" }]);
    expect(names(await list(s.clients.grpcWeb, bearer(token({ namespaces: ["elsewhere"], verbs: ["get"] }))))).toEqual([]);
    expect(names(await list(s.clients.connectJson, bearer(token({ namespaces: ["local"], verbs: ["get"] })), "other"))).toEqual([]);
  });
});
