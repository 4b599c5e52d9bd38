// The file browser page in Debian's Chromium against the agents on the real two-node cluster
// (deploy/ through test/e2e/overlay: TokenReview + SubjectAccessReview). The page is served by the
// agent on node `localhost`; the pod browsed runs on the OTHER node (node-b), so every call the page
// makes for it is forwarded between agents. Signed in with a Kubernetes ServiceAccount token whose
// Role names two pods (resourceNames): the suggestions (ListContainers) list those two and not the
// third pod of the namespace, which answers PERMISSION_DENIED when opened. Witness of the upload:
// sha256sum run in the pod (kubectl exec).
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, launchChromium, sha256File, tempDir } from "../web/support.js";
import { AGENT_NS, assertOwnNamespace, createSuiteNamespace, deployAgents, type DeployedAgents } from "./support/agent-deploy.js";
import { type Cluster, e2eEnabled, ensureCluster } from "./support/cluster.js";

// The callbacks of page.evaluate run in Chromium; the DOM lib is not loaded for the tests.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;

const NS = "web-e2e";
const SA = "browser";
const twoNodes = (process.env.PODFILES_NODES ?? "2") !== "1";

const listed = (page: Page) => page.waitForSelector('#list-status[data-state="done"]', { timeout: 30_000 });
const row = (page: Page, name: string) => page.locator(`.row:not([hidden])[data-name="${name}"]`);
const options = (page: Page, id: string) =>
  page.locator(`#${id} option`).evaluateAll((els) => els.map((e) => [(e as { value: string }).value, (e as { label: string }).label]));

describe.skipIf(!e2eEnabled || !twoNodes)("the file browser page against the agents on the two-node cluster", () => {
  let cluster: Cluster;
  let agents: DeployedAgents;
  let browser: Browser;
  let page: Page;
  let token = "";
  const nonce = randomBytes(6).toString("hex");
  const exec = (pod: string, ...cmd: string[]) => cluster.kubectl(["-n", NS, "exec", pod, "-c", "main", "--", ...cmd], { timeoutMs: 120_000 });
  const busybox = (name: string, node: string) => ({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: NS },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: "main",
          image: "localhost/podfiles-busybox:1",
          imagePullPolicy: "Never",
          command: ["sh", "-c", `mkdir -p /data && echo ${node} > /data/node.txt && exec sleep 100000`],
        },
      ],
    },
  });

  beforeAll(async () => {
    cluster = await ensureCluster();
    expect(cluster.nodes.map((n) => n.name)).toEqual(["localhost", "node-b"]);
    await assertOwnNamespace(cluster, NS);
    await cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 });
    agents = await deployAgents(cluster, nonce);
    await createSuiteNamespace(cluster, NS, "web");
    for (const [name, node] of [
      ["files-a", "localhost"],
      ["files-b", "node-b"],
      ["private", "node-b"],
    ])
      await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify(busybox(name!, node!)) });
    // a Role that names two of the three pods (resourceNames), as a team would be given its own
    const rbac = [
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: SA, namespace: NS } },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: SA, namespace: NS },
        rules: [
          { apiGroups: ["podfiles.io"], resources: ["containerfiles"], resourceNames: ["files-a", "files-b"], verbs: ["get", "create", "update", "delete"] },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name: SA, namespace: NS },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: SA },
        subjects: [{ kind: "ServiceAccount", name: SA, namespace: NS }],
      },
    ];
    await cluster.kubectl(["apply", "-f", "-"], { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: rbac }) });
    token = (await cluster.kubectl(["-n", NS, "create", "token", SA, "--duration=20m"])).trim();
    for (const pod of ["files-a", "files-b", "private"])
      await cluster.kubectl(["-n", NS, "wait", "--for=condition=Ready", `pod/${pod}`, "--timeout=120s"], { timeoutMs: 130_000 });
    browser = await launchChromium();
    page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1400, height: 800 } });
    page.on("pageerror", (err) => console.error("page error:", err));
    page.on("console", (m) => m.type() === "error" && console.error("page console:", m.text()));
  }, 300_000);

  afterAll(async () => {
    await page?.close();
    await browser?.close();
    if (!cluster) return;
    await Promise.all([
      agents?.remove(),
      cluster.kubectl(["delete", "namespace", NS, "--ignore-not-found", "--wait=true", "--timeout=120s"], { timeoutMs: 150_000 }),
    ]);
    expect((await cluster.kubectl(["get", "namespace", AGENT_NS, NS, "--ignore-not-found", "-o", "name"])).trim()).toBe("");
  }, 200_000);

  it("signs in with a Kubernetes token, picks the pod on the other node from the suggestions, uploads, downloads (SHA-256), and shows PERMISSION_DENIED", async () => {
    const url = agents.urlOf("localhost");
    await page.goto(url);
    // not signed in: the agent answers UNAUTHENTICATED, the sign-in form opens, suggestions fall back to the recent ones
    await page.waitForSelector('.msg.error[data-code="UNAUTHENTICATED"]');
    await page.waitForSelector('#container-form[data-suggestions="recent"]');
    await page.fill("#token", token);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector(`#identity:has-text("system:serviceaccount:${NS}:${SA}")`);

    // the suggestions: ListContainers, RBAC-filtered by the agent (files-a and files-b, not private)
    await page.waitForSelector('#container-form[data-suggestions="listed"]', { timeout: 30_000 });
    expect(await options(page, "recent-ns")).toEqual([[NS, ""]]);
    await page.fill("#ns", NS);
    await page.fill("#pod", "");
    const pods = await options(page, "recent-pod");
    expect(pods).toEqual([
      ["files-a", "node localhost · running"],
      ["files-b", "node node-b · running"],
    ]);
    const onOtherNode = pods.find(([, label]) => label.includes("node node-b"))![0];
    await page.fill("#pod", onOtherNode);
    expect(await options(page, "recent-ctr")).toEqual([["main", "default · localhost/podfiles-busybox:1"]]);
    await page.fill("#ctr", "main");
    await page.screenshot({ path: join(ARTIFACTS, "cluster-suggestions.png") });
    await page.click('#container-form button[type="submit"]');
    await listed(page);
    await row(page, "data").locator("a").click();
    await listed(page);
    await row(page, "node.txt").waitFor();

    // upload by the picker; the pod's own sha256sum agrees
    const work = await tempDir("podfiles-web-e2e-");
    const data = randomBytes(3 * 1024 * 1024 + 5);
    const sha = createHash("sha256").update(data).digest("hex");
    const name = `up-${nonce}.bin`;
    writeFileSync(join(work, name), data);
    await page.setInputFiles("#file-input", join(work, name));
    const item = page.locator(`#queue li[data-name="${name}"]`);
    await page.waitForSelector(`#queue li[data-name="${name}"]:is([data-state="done"], [data-state="failed"], [data-state="cancelled"])`, { timeout: 60_000 });
    if ((await item.getAttribute("data-state")) !== "done") await page.screenshot({ path: join(ARTIFACTS, "cluster-upload-failed.png") });
    expect([await item.getAttribute("data-state"), await item.locator(".stats").textContent()]).toEqual(["done", expect.anything()]);
    expect((await exec(onOtherNode, "sha256sum", `/data/${name}`)).split(" ")[0]).toBe(sha);

    // download: the page checks the SHA-256 trailer, the browser saves the file
    await listed(page);
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), row(page, name).locator('[data-action="download"]').click()]);
    const saved = join(work, "downloaded.bin");
    await download.saveAs(saved);
    expect(await sha256File(saved)).toBe(sha);
    expect(await page.locator(`#queue li[data-kind="download"][data-name="${name}"]`).getAttribute("data-sha256")).toBe(sha);
    // http://<node IP> is not a secure context: no service worker there, the checked bytes went through a Blob
    // (test/web/page.spec.ts covers the streamed save, on http://127.0.0.1); the agent serves the worker all the same
    expect(await page.evaluate(() => (globalThis as unknown as { isSecureContext: boolean }).isSecureContext)).toBe(false);
    expect(await page.locator(`#queue li[data-kind="download"][data-name="${name}"]`).getAttribute("data-saved")).toBe("blob");
    expect((await fetch(`${url}/save-worker.js`)).status).toBe(200);
    await page.screenshot({ path: join(ARTIFACTS, "cluster-other-node.png") });

    // the agent on localhost forwarded the page's calls to node-b's
    const logs = await cluster.kubectl(["-n", AGENT_NS, "logs", agents.pods["localhost"]!]);
    expect(logs).toMatch(/"msg":"forwarded".*"node":"node-b"/);

    // the pod the token may not read: PERMISSION_DENIED, shown as such
    await page.evaluate(() => document.getElementById("messages").replaceChildren());
    await page.fill("#pod", "private");
    await page.fill("#ctr", "main");
    await page.click('#container-form button[type="submit"]');
    const msg = page.locator('.msg.error[data-code="PERMISSION_DENIED"]', { hasText: 'pod "private"' });
    await msg.waitFor({ timeout: 30_000 });
    expect(await msg.textContent()).toMatch(
      new RegExp(`Permission denied \\(PERMISSION_DENIED\\): system:serviceaccount:${NS}:${SA} cannot get resource "containerfiles"`),
    );
    await page.screenshot({ path: join(ARTIFACTS, "cluster-permission-denied.png") });
  }, 240_000);

  it("kube-finder's REST API on the agent of localhost for the pod on node-b: forwarded, with the caller's token", async () => {
    const base = `${agents.urlOf("localhost")}/apis/v1/namespaces/${NS}/pods/files-b/containers/main/files`;
    const auth = { authorization: `Bearer ${token}` };
    const dir = await fetch(`${base}?subpath=/data`, { headers: auth });
    expect(dir.status).toBe(200);
    expect(((await dir.json()) as { files: { name: string }[] }).files.map((f) => f.name)).toContain("node.txt");
    const file = await fetch(`${base}?subpath=/data/node.txt`, { headers: auth });
    expect([file.status, await file.text()]).toEqual([200, "node-b\n"]);
    const denied = await fetch(`${agents.urlOf("localhost")}/apis/v1/namespaces/${NS}/pods/private/containers/main/files?subpath=/`, { headers: auth });
    expect([denied.status, ((await denied.json()) as { code: string }).code]).toEqual([403, "permission_denied"]);
  }, 60_000);
});
