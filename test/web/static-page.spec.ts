// The page's HTTP answers: a strict Content-Security-Policy on everything (the SHA-256 worker's
// script may also compile WebAssembly, nothing else may), index.html and the save worker revalidated
// (ETag → 304), hashed assets cached for a year, and nothing but GET/HEAD of the page's own paths
// taken from the RPC routes.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";
import { tempDir } from "./support.js";

describe("the page's HTTP answers", () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServerProcess(await tempDir("podfiles-static-"));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("serves / with CSP and revalidation, assets immutable, and leaves the RPC paths alone", async () => {
    const index = await fetch(`${server.url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const csp = index.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain("unsafe");
    expect(index.headers.get("cache-control")).toBe("no-cache");
    const html = await index.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/https?:\/\//); // nothing from elsewhere

    const again = await fetch(`${server.url}/`, { headers: { "if-none-match": index.headers.get("etag")! } });
    expect(again.status).toBe(304);

    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)![1];
    const asset = await fetch(`${server.url}/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    expect(asset.headers.get("content-security-policy")).toBe(csp);
    expect((await fetch(`${server.url}/assets/nope.js`)).status).toBe(404);

    // the download hash's worker script alone may compile WebAssembly (its own policy governs it)
    const worker = /sha256-worker-[\w-]+\.js/.exec(await asset.text())![0];
    const workerAnswer = await fetch(`${server.url}/assets/${worker}`);
    expect(workerAnswer.status).toBe(200);
    expect(workerAnswer.headers.get("content-security-policy")).toBe("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).not.toContain("wasm");

    // the save worker (a service worker) under its fixed name, revalidated, allowed nothing but its script; frames of the page's own origin only
    const saveWorker = await fetch(`${server.url}/save-worker.js`);
    expect(saveWorker.status).toBe(200);
    expect(saveWorker.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(saveWorker.headers.get("cache-control")).toBe("no-cache");
    expect(saveWorker.headers.get("content-security-policy")).toBe("default-src 'none'");
    expect(await saveWorker.text()).toContain("Content-Disposition");
    expect(csp).toContain("frame-src 'self'");
    expect(csp).toContain("worker-src 'self'");

    // a Connect call still reaches FileService; another page's origin is refused (same-origin by default)
    const stat = await fetch(`${server.url}/podfiles.v1.FileService/Stat`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ container: { namespace: "local", pod: "local", container: "local" }, path: "/" }),
    });
    expect(stat.status).toBe(200);
    const foreign = await fetch(`${server.url}/`, { headers: { origin: "https://evil.example" } });
    expect(foreign.status).toBe(403);
  });

  it("kube-finder's API on a server without auth answers only the Host names it serves (DNS rebinding)", async () => {
    const api = `${server.url}/apis/v1/namespaces/local/pods/local/containers/local/files?subpath=/`;
    const curl = (...a: string[]) => promisify(execFile)("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", ...a, api]);
    expect((await curl()).stdout).toBe("200");
    expect((await curl("-H", "Host: evil.example")).stdout).toBe("403");
  });
});
