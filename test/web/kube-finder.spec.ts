// kube-finder's REST API, replayed with curl as its README shows it (token by Basic auth, listing,
// download, multipart upload), against `podfiles serve --auth jwt` in its own process: the same
// auth, scopes and confinement as FileService, and none of kube-finder's holes (0777 uploads).
import { execFile } from "node:child_process";
import { request } from "node:http";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAuthServer, tempDir, type AuthServer } from "./support.js";

const run = promisify(execFile);

/** curl as a user types it; returns the status, the headers and the body. */
async function curl(...args: string[]): Promise<{ status: number; headers: string; body: string }> {
  const { stdout } = await run("curl", ["-sS", "-D", "-", ...args], { maxBuffer: 64 * 1024 * 1024 });
  const split = stdout.indexOf("\r\n\r\n");
  const headers = stdout.slice(0, split);
  return { status: Number(/^HTTP\/[\d.]+ (\d+)/.exec(headers)![1]), headers, body: stdout.slice(split + 4) };
}

describe("kube-finder's API with curl", () => {
  let server: AuthServer;
  let root: string;
  let work: string;
  let base: string;
  let token: string;

  beforeAll(async () => {
    root = await tempDir("podfiles-kf-root-");
    work = await tempDir("podfiles-kf-work-");
    mkdirSync(join(root, "home", "jimy"), { recursive: true });
    writeFileSync(join(root, "home", "jimy", "app.jar"), "0123456789abcdef");
    mkdirSync(join(root, "home", "curl_user"));
    chmodSync(join(root, "home", "curl_user"), 0o2755);
    symlinkSync("/proc/kcore", join(root, "home", "core"));
    symlinkSync("/etc/hostname", join(root, "escape"));
    mkdirSync(join(root, "up"));
    mkdirSync(join(root, "cut"));
    server = await startAuthServer(root, await tempDir("podfiles-kf-"));
    base = `${server.url}/apis/v1/namespaces/local/pods/local/containers/local/files`;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("GET /apis/v1/auth/token: Basic credentials → a JWT; wrong ones → 401 with {error}", async () => {
    const ok = await curl("-u", `writer:${server.passwords.writer}`, `${server.url}/apis/v1/auth/token`);
    expect(ok.status).toBe(200);
    token = JSON.parse(ok.body).token;
    expect(token).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    const bad = await curl("-u", "writer:nope", `${server.url}/apis/v1/auth/token`);
    expect(bad.status).toBe(401);
    expect(JSON.parse(bad.body).error).toBe("invalid client credentials");
    const none = await curl(`${base}?subpath=/`);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body).error).toMatch(/no credentials/);
  });

  it("lists a directory in kube-finder's shape (?token= as its README, or a Bearer header)", async () => {
    const r = await curl(`${base}?subpath=/home&token=${token}`);
    expect(r.status).toBe(200);
    const doc = JSON.parse(r.body) as { subpath: string; files: Record<string, unknown>[] };
    expect(doc.subpath).toBe("/home");
    const byName = Object.fromEntries(doc.files.map((f) => [f.name, f]));
    expect(Object.keys(byName.core!).sort()).toEqual(["groupname", "isdir", "link", "mode", "modtime", "name", "size", "username"]);
    expect(byName.core).toMatchObject({ mode: "Lrwxrwxrwx", isdir: false, link: "/proc/kcore", size: 11 });
    expect(byName.curl_user).toMatchObject({ mode: "dgrwxr-xr-x", isdir: true, link: "" });
    expect(byName.curl_user!.modtime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const header = await curl("-H", `Authorization: Bearer ${token}`, `${base}?subpath=/home`);
    expect(JSON.parse(header.body)).toEqual(doc);
  });

  it("downloads a file, and a byte range with 206", async () => {
    const all = await curl(`${base}?subpath=/home/jimy/app.jar&token=${token}`);
    expect(all.status).toBe(200);
    expect(all.body).toBe("0123456789abcdef");
    const part = await curl("-r", "2-5", `${base}?subpath=/home/jimy/app.jar&token=${token}`);
    expect(part.status).toBe(206);
    expect(part.body).toBe("2345");
    expect(part.headers).toMatch(/content-range: bytes 2-5\/16/i);
    const past = await curl("-r", "99-", `${base}?subpath=/home/jimy/app.jar&token=${token}`);
    expect(past.status).toBe(416);
  });

  it("names a download so `curl -OJ` and browsers save it under the file's name, whatever the name holds", async () => {
    const name = `it's "v2" (1)\r\n.jar`;
    writeFileSync(join(root, "home", "jimy", name), "named\n");
    const r = await curl(`${base}?subpath=${encodeURIComponent(`/home/jimy/${name}`)}&token=${token}`);
    expect(r.status).toBe(200);
    const disposition = /^content-disposition: (.*)$/im.exec(r.headers)![1]!;
    // RFC 8187: the whole name in filename*, percent-encoded (' ( ) included), the header one line of visible ASCII
    expect(disposition).toBe(`attachment; filename="it_s__v2__(1)__.jar"; filename*=UTF-8''it%27s%20%22v2%22%20%281%29%0D%0A.jar`);
    // curl -J reads only the plain filename
    const into = join(work, "curl-oj");
    mkdirSync(into);
    await run("curl", ["-sS", "-O", "-J", "--output-dir", into, `${base}?subpath=/home/jimy/app.jar&token=${token}`]);
    expect(readdirSync(into)).toEqual(["app.jar"]);
    expect(readFileSync(join(into, "app.jar"), "utf8")).toBe("0123456789abcdef");
  });

  it("uploads multipart form data into the directory subpath: 0644, not 0777; a file subpath is refused", async () => {
    writeFileSync(join(work, "LICENSE"), "Apache-2.0\n".repeat(10_000));
    const r = await curl("-F", `file=@${join(work, "LICENSE")}`, `${base}?subpath=/up&token=${token}`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).message).toBe("file /up/LICENSE uploaded successfully");
    expect(readFileSync(join(root, "up", "LICENSE"), "utf8")).toBe("Apache-2.0\n".repeat(10_000));
    expect(statSync(join(root, "up", "LICENSE")).mode & 0o7777).toBe(0o644);
    // the same name again replaces it (as kube-finder does), atomically
    writeFileSync(join(work, "LICENSE"), "MIT\n");
    expect((await curl("-F", `file=@${join(work, "LICENSE")}`, `${base}?subpath=/up&token=${token}`)).status).toBe(200);
    expect(readFileSync(join(root, "up", "LICENSE"), "utf8")).toBe("MIT\n");
    const intoFile = await curl("-F", `file=@${join(work, "LICENSE")}`, `${base}?subpath=/home/jimy/app.jar&token=${token}`);
    expect(intoFile.status).toBe(400);
    expect(JSON.parse(intoFile.body).error).toMatch(/not a directory/);
    // a file name with a path in it lands in the directory under its base name
    const sneaky = await curl("-F", `file=@${join(work, "LICENSE")};filename=../../sneaky`, `${base}?subpath=/up&token=${token}`);
    expect(sneaky.status).toBe(200);
    expect(existsSync(join(root, "up", "sneaky"))).toBe(true);
  });

  it("a multipart body cut off mid-file leaves no file (the upload is aborted, not committed short)", async () => {
    const boundary = "----cut";
    const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`;
    const u = new URL(`${base}?subpath=/cut`);
    await new Promise<void>((resolve) => {
      const req = request(u, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": String(10 * 1024 * 1024) },
      });
      req.on("error", () => resolve());
      req.on("response", () => resolve());
      req.write(head);
      req.write(Buffer.alloc(3 * 1024 * 1024, 1), () => setTimeout(() => req.destroy(), 300));
    });
    // nothing committed, and the upload's temp file is gone too
    await expect.poll(() => readdirSync(join(root, "cut")), { timeout: 5000 }).toEqual([]);
  });

  it("the same scopes and confinement: a read-only client gets 403, paths stay inside the container", async () => {
    const reader = JSON.parse((await curl("-u", `reader:${server.passwords.reader}`, `${server.url}/apis/v1/auth/token`)).body).token as string;
    writeFileSync(join(work, "x.txt"), "x");
    const denied = await curl("-F", `file=@${join(work, "x.txt")}`, `${base}?subpath=/up&token=${reader}`);
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body).error).toMatch(/jwt:reader cannot create/);
    expect(existsSync(join(root, "up", "x.txt"))).toBe(false);
    expect((await curl(`${base}?subpath=/&token=${reader}`)).status).toBe(200);

    const up = await curl(`${base}?subpath=/../../../../etc/passwd&token=${token}`);
    expect(up.body).not.toContain("root:x:0:0");
    expect(up.status).toBe(404);
    const viaLink = await curl(`${base}?subpath=/escape&token=${token}`);
    expect(viaLink.status).toBe(404);
    expect(viaLink.body).not.toBe(readFileSync("/etc/hostname", "utf8"));
    const otherPod = await curl(`${server.url}/apis/v1/namespaces/other/pods/p/containers/c/files?subpath=/&token=${token}`);
    expect(otherPod.status).toBe(404);
    expect(JSON.parse(otherPod.body)).toHaveProperty("error");
  });
});
