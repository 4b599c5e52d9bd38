// The file browser page in a real Chromium (Debian's, headless), against `podfiles serve` in its
// own process: browse (streamed, virtualised, symlinks, hidden files), upload by a drop and by the
// picker, a 200 MiB upload interrupted by a reload and resumed, its download checked by SHA-256,
// mkdir, rename, delete, and the status of a refused call (PERMISSION_DENIED, UNAUTHENTICATED) as
// the page shows it. Screenshots go to test/web/artifacts/ (not committed).
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerProcess } from "../support/server-process.js";
import { startServerProcess } from "../support/server-process.js";
import { ARTIFACTS, launchChromium, randomFile, sha256File, startAuthServer, tempDir, type AuthServer } from "./support.js";

// The callbacks of page.evaluate run in Chromium. The DOM lib is not loaded for the tests (it would
// retype fetch, Response and friends for every other spec): the names they use, untyped, here only.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any, window: any, sessionStorage: any, localStorage: any, DataTransfer: any, DragEvent: any;
type HTMLElement = any;
type HTMLInputElement = any;

const BIG_MIB = 200;

/** Which SHA-256 a worker of the page runs ("wasm" or "js"; "ended" if it finished before asked). */
const sha256EngineOf = (w: import("playwright-core").Worker): Promise<string> =>
  w.evaluate(() => (globalThis as unknown as { sha256Engine: Promise<string> }).sha256Engine).catch(() => "ended");
const MANY = 20_000;

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** Names of the rows in the DOM now (only the ones in view exist). */
const rowNames = (page: Page) => page.$$eval(".row:not([hidden])", (rows) => rows.map((r) => (r as HTMLElement).dataset.name!));
const row = (page: Page, name: string) => page.locator(`.row:not([hidden])[data-name="${name}"]`);
const listed = (page: Page) => page.waitForSelector('#list-status[data-state="done"]');
/**
 * Goes to a directory of the local container and waits for its own listing to finish: a change of
 * the URL's hash alone is handled by the page a little later, so the last listing's "done" could
 * otherwise be taken for it.
 */
async function openDir(page: Page, base: string, path: string): Promise<void> {
  await page.goto(`${base}/#ns=local&pod=local&c=local&path=${encodeURIComponent(path)}`);
  await page.waitForFunction((p) => (window as any).podfilesPage.listing.path === p && document.getElementById("list-status").dataset.state === "done", path);
}

/** A drop of files the page gets as a user's drag would deliver them: Files in a DataTransfer. */
async function dropFiles(page: Page, paths: string[]): Promise<void> {
  await page.evaluate(() => {
    const input = document.createElement("input");
    input.type = "file";
    input.multiple = true;
    input.id = "test-drag-source";
    input.hidden = true;
    document.body.append(input);
  });
  await page.setInputFiles("#test-drag-source", paths);
  await page.evaluate(() => {
    const input = document.getElementById("test-drag-source") as HTMLInputElement;
    const dt = new DataTransfer();
    for (const f of input.files!) dt.items.add(f);
    const zone = document.getElementById("drop-zone")!;
    zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    input.remove();
  });
}

async function answer(page: Page, text?: string): Promise<void> {
  await page.waitForSelector("#ask[open]");
  if (text !== undefined) await page.fill("#ask-input", text);
  await page.click("#ask-ok");
}

describe("the file browser page against podfiles serve", () => {
  let root: string;
  let work: string;
  let server: ServerProcess;
  let page: Page;

  beforeAll(async () => {
    root = await tempDir("podfiles-web-root-");
    work = await tempDir("podfiles-web-work-");
    mkdirSync(join(root, "docs"));
    writeFileSync(join(root, "docs", "a.txt"), "alpha\n");
    writeFileSync(join(root, ".secret"), "hidden\n");
    symlinkSync("docs/a.txt", join(root, "latest"));
    mkdirSync(join(root, "many"));
    for (let i = 0; i < MANY; i++) writeFileSync(join(root, "many", `f${String(i).padStart(5, "0")}`), "");
    server = await startServerProcess(root);
    page = await browser.newPage({ acceptDownloads: true, viewport: { width: 1400, height: 800 } });
    page.on("pageerror", (err) => console.error("page error:", err));
  });
  afterAll(async () => {
    await page?.close();
    await server?.stop();
  });

  it("browses: symlinks with targets, hidden files on request, breadcrumbs, a 20,000-entry directory with few rows in the DOM", async () => {
    const csp: string[] = [];
    page.on("console", (m) => m.type() === "error" && csp.push(m.text()));
    await page.goto(server.url);
    await listed(page);
    expect(await rowNames(page)).toEqual(["docs", "many", "latest"]);
    expect(await row(page, "latest").locator(".link").textContent()).toBe(" → docs/a.txt");
    expect(await row(page, "docs").locator(".mode").textContent()).toBe("drwxr-xr-x");
    await page.check("#hidden-toggle");
    await listed(page);
    expect(await rowNames(page)).toContain(".secret");

    await row(page, "docs").locator("a").click();
    await listed(page);
    expect(await rowNames(page)).toEqual(["a.txt"]);
    expect(await page.locator("#crumbs a").allTextContents()).toEqual(["local/local/local:/", "docs"]);
    await page.locator("#crumbs a").first().click();
    await listed(page);

    await row(page, "many").locator("a").click();
    await listed(page);
    expect(await page.textContent("#list-status")).toBe(`${MANY.toLocaleString("en-US")} entries`);
    const inDom = await page.locator(".row").count();
    expect(inDom).toBeLessThan(100);
    // scrolled to the end, the last entries are drawn
    await page.locator("#list").evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.waitForSelector(`.row:not([hidden])[data-name="f${MANY - 1}"]`);
    const timing = await page.evaluate(() => (window as unknown as { podfilesPage: { listing: { firstRowsMs: number; allMs: number } } }).podfilesPage.listing);
    expect(timing.firstRowsMs).toBeGreaterThan(0);
    expect(timing.firstRowsMs).toBeLessThanOrEqual(timing.allMs + 50);
    expect(csp).toEqual([]); // no CSP violation, no failed load
    await page.screenshot({ path: join(ARTIFACTS, "many.png") });
  });

  it("suggests the containers ListContainers lists (the one container of podfiles serve)", async () => {
    const fresh = await browser.newPage();
    try {
      await fresh.goto(server.url);
      await fresh.waitForSelector('#container-form[data-suggestions="listed"]');
      const options = (id: string) =>
        fresh
          .locator(`#${id} option`)
          .evaluateAll((els) =>
            els.map((e) => [(e as unknown as { value: string; label: string }).value, (e as unknown as { value: string; label: string }).label]),
          );
      expect(await options("recent-ns")).toEqual([["local", ""]]);
      expect(await options("recent-pod")).toEqual([["local", "running"]]);
      expect(await options("recent-ctr")).toEqual([["local", "default"]]);
    } finally {
      await fresh.close();
    }
  });

  it("uploads by drop and picker, resumes a 200 MiB upload after a reload, downloads it with its SHA-256 checked", async () => {
    await openDir(page, server.url, "/docs");
    // a drop of two small files
    writeFileSync(join(work, "one.txt"), "one\n");
    writeFileSync(join(work, "two.txt"), "two\n");
    await dropFiles(page, [join(work, "one.txt"), join(work, "two.txt")]);
    await page.waitForSelector('#queue li[data-name="two.txt"][data-state="done"]');
    await page.waitForSelector('#queue li[data-name="one.txt"][data-state="done"]');
    expect(readFileSync(join(root, "docs", "one.txt"), "utf8")).toBe("one\n");
    await listed(page);
    await row(page, "two.txt").waitFor();

    // 200 MiB by drop; a reload once a quarter is on the server; the same file dropped again resumes
    const big = join(work, "big.bin");
    const sha = randomFile(big, BIG_MIB);
    await dropFiles(page, [big]);
    const item = page.locator('#queue li[data-name="big.bin"]');
    // (on loopback the whole upload takes about a second: reload as soon as some chunks are in)
    await page.waitForFunction(
      () =>
        !/SHA-256/.test(document.querySelector('#queue li[data-name="big.bin"] .stats')?.textContent ?? "SHA-256") &&
        Number((document.querySelector('#queue li[data-name="big.bin"]') as HTMLElement)?.dataset.bytes ?? 0) > 0,
      undefined,
      { timeout: 60_000, polling: 10 },
    );
    const before = Number(await item.getAttribute("data-bytes"));
    await page.reload();
    await page.waitForSelector('#interrupted:not([hidden]) [data-name="big.bin"]');
    await page.screenshot({ path: join(ARTIFACTS, "interrupted.png") });
    // the resumed upload hashes the file in the page's worker (WebAssembly) while it sends
    const uploadEngines: Promise<string>[] = [];
    const onUploadWorker = (w: import("playwright-core").Worker) => uploadEngines.push(sha256EngineOf(w));
    page.on("worker", onUploadWorker);
    await dropFiles(page, [big]);
    await page.waitForSelector('#queue li[data-name="big.bin"][data-resumed-from]');
    const resumedFrom = Number(await item.getAttribute("data-resumed-from"));
    expect(resumedFrom).toBeGreaterThanOrEqual(before);
    expect(resumedFrom).toBeLessThan(BIG_MIB * 1024 * 1024);
    await expect.poll(() => item.locator(".stats").textContent()).toMatch(/resum(ed|ing) at .* of 200 MiB|uploaded 200 MiB/);
    await page.screenshot({ path: join(ARTIFACTS, "upload-progress.png") });
    await page.waitForSelector('#queue li[data-name="big.bin"][data-state="done"]', { timeout: 120_000 });
    expect(await sha256File(join(root, "docs", "big.bin"))).toBe(sha);
    expect(await page.isHidden("#interrupted")).toBe(true);
    page.off("worker", onUploadWorker);
    expect(await Promise.all(uploadEngines)).toContain("wasm");

    // download: the page checks the trailer's SHA-256 (hashed in a Web Worker), the browser saves the file
    await listed(page);
    const workers: string[] = [];
    const engines: Promise<string>[] = [];
    page.on("worker", (w) => {
      workers.push(w.url());
      engines.push(sha256EngineOf(w));
    });
    const [download] = await Promise.all([
      page.waitForEvent("download", { timeout: 60_000 }),
      row(page, "big.bin").locator('[data-action="download"]').click(),
    ]);
    const saved = join(work, "downloaded.bin");
    await download.saveAs(saved);
    expect(await sha256File(saved)).toBe(sha);
    expect(await page.locator('#queue li[data-kind="download"][data-name="big.bin"]').getAttribute("data-sha256")).toBe(sha);
    // saved as it arrived, through the page's service worker (save-worker.ts), not assembled in a Blob first
    expect(await page.locator('#queue li[data-kind="download"][data-name="big.bin"]').getAttribute("data-saved")).toBe("stream");
    // the SHA-256 ran in the page's worker (the Content-Security-Policy lets it start), as WebAssembly
    // (its script's own policy lets it compile hash-wasm; sha256.ts would run were it refused)
    expect(workers.some((u) => /sha256-worker-.*\.js$/.test(u))).toBe(true);
    expect(await Promise.all(engines)).toContain("wasm");
    await page.screenshot({ path: join(ARTIFACTS, "transfers.png") });

    // the picker
    writeFileSync(join(work, "picked.txt"), "picked\n");
    await page.setInputFiles("#file-input", join(work, "picked.txt"));
    await page.waitForSelector('#queue li[data-name="picked.txt"][data-state="done"]');
    expect(existsSync(join(root, "docs", "picked.txt"))).toBe(true);
    // the same name again: ALREADY_EXISTS, and Replace overwrites
    writeFileSync(join(work, "picked.txt"), "picked again\n");
    await page.setInputFiles("#file-input", join(work, "picked.txt"));
    await page.waitForSelector('#queue li[data-name="picked.txt"][data-code="ALREADY_EXISTS"]');
    await page.locator('#queue li[data-name="picked.txt"][data-code="ALREADY_EXISTS"] button', { hasText: "Replace" }).click();
    await expect.poll(() => readFileSync(join(root, "docs", "picked.txt"), "utf8")).toBe("picked again\n");
    // its row is redrawn with the new size: the same name at the same place, but a new entry
    await expect.poll(() => row(page, "picked.txt").locator(".size").textContent()).toBe("13 B");
  }, 120_000);

  it("uploads where the page has no crypto.subtle (an insecure origin such as http://<node IP>: emulated by removing it)", async () => {
    const insecure = await browser.newPage();
    try {
      await insecure.addInitScript(() => Object.defineProperty(globalThis.crypto, "subtle", { value: undefined }));
      await openDir(insecure, server.url, "/docs");
      expect(await insecure.evaluate(() => typeof globalThis.crypto.subtle)).toBe("undefined");
      writeFileSync(join(work, "insecure.txt"), "no subtle\n");
      await insecure.setInputFiles("#file-input", join(work, "insecure.txt"));
      await insecure.waitForSelector('#queue li[data-name="insecure.txt"]:is([data-state="done"], [data-state="failed"])');
      expect(await insecure.locator('#queue li[data-name="insecure.txt"]').getAttribute("data-state")).toBe("done");
      expect(readFileSync(join(root, "docs", "insecure.txt"), "utf8")).toBe("no subtle\n");
    } finally {
      await insecure.close();
    }
  });

  it("a download altered on the way fails DATA_LOSS and the browser keeps no file; without a service worker the page saves a Blob", async () => {
    const altered = await browser.newPage({ acceptDownloads: true });
    const blocked = await browser.newContext({ acceptDownloads: true, serviceWorkers: "block" });
    try {
      const sha = randomFile(join(root, "docs", "altered.bin"), 8);
      const original = readFileSync(join(root, "docs", "altered.bin"));
      // one byte of the file's middle flipped in the Download call's answer (found by its content, so the framing stays intact)
      let flipped = false;
      await altered.route("**/podfiles.v1.FileService/Download", async (route) => {
        const response = await route.fetch();
        const body = Buffer.from(await response.body());
        const at = body.indexOf(original.subarray(4 * 1024 * 1024, 4 * 1024 * 1024 + 64));
        if (at >= 0) {
          body[at + 10]! ^= 0xff;
          flipped = true;
        }
        await route.fulfill({ response, body });
      });
      await openDir(altered, server.url, "/docs");
      const [download] = await Promise.all([
        altered.waitForEvent("download", { timeout: 60_000 }),
        row(altered, "altered.bin").locator('[data-action="download"]').click(),
      ]);
      const item = altered.locator('#queue li[data-kind="download"][data-name="altered.bin"]');
      await altered.waitForSelector('#queue li[data-kind="download"][data-name="altered.bin"]:is([data-state="done"], [data-state="failed"])');
      expect(flipped).toBe(true);
      expect(await item.getAttribute("data-saved")).toBe("stream");
      expect(await item.getAttribute("data-state")).toBe("failed");
      expect(await item.getAttribute("data-code")).toBe("DATA_LOSS");
      expect(await item.locator(".stats").textContent()).toMatch(/SHA-256 mismatch/);
      expect(await download.failure()).not.toBeNull();
      await expect(download.path()).rejects.toThrow();

      // a download cancelled in the browser (its downloads list) stops the call: the page says cancelled.
      // The page's network is throttled to 2 MB/s (DevTools' network emulation) so the 64 MiB cannot finish
      // before the cancel lands (35.6 s to done without the cancel). CI's "done" was the save worker's race
      // (a frame's navigation before its announcement: a Blob fallback), mended in save-stream.ts.
      randomFile(join(root, "docs", "cancelled.bin"), 64);
      await altered.unroute("**/podfiles.v1.FileService/Download");
      await openDir(altered, server.url, "/docs");
      const devtools = await altered.context().newCDPSession(altered);
      await devtools.send("Network.enable");
      await devtools.send("Network.emulateNetworkConditions", {
        offline: false,
        latency: 0,
        downloadThroughput: 2_000_000,
        uploadThroughput: -1,
      });
      const [cancelled] = await Promise.all([
        altered.waitForEvent("download", { timeout: 60_000 }),
        row(altered, "cancelled.bin").locator('[data-action="download"]').click(),
      ]);
      await cancelled.cancel();
      const cancelledItem = altered.locator('#queue li[data-kind="download"][data-name="cancelled.bin"]');
      await altered.waitForSelector(
        '#queue li[data-kind="download"][data-name="cancelled.bin"]:is([data-state="done"], [data-state="failed"], [data-state="cancelled"])',
      );
      // streamed (a Blob fallback would start the browser's download only once every byte is in: too late to cancel)
      expect(await cancelledItem.getAttribute("data-saved")).toBe("stream");
      expect(await cancelledItem.getAttribute("data-state")).toBe("cancelled");
      expect(await cancelled.failure()).toBe("canceled");

      // no service worker (blocked here; an http:// origin other than localhost has none either): the verified bytes go through a Blob
      const page2 = await blocked.newPage();
      await openDir(page2, server.url, "/docs");
      const [saved] = await Promise.all([
        page2.waitForEvent("download", { timeout: 60_000 }),
        row(page2, "altered.bin").locator('[data-action="download"]').click(),
      ]);
      await saved.saveAs(join(work, "altered.bin"));
      expect(await sha256File(join(work, "altered.bin"))).toBe(sha);
      const blobItem = page2.locator('#queue li[data-kind="download"][data-name="altered.bin"]');
      expect(await blobItem.getAttribute("data-saved")).toBe("blob");
      expect(await blobItem.getAttribute("data-state")).toBe("done");
    } finally {
      await altered.close();
      await blocked.close();
    }
  });

  it("acts on the entry a row shows, even when a click lands between a re-sort and the next paint", async () => {
    // names sort a, b, c; sizes sort b (1 byte), c (2), a (3)
    mkdirSync(join(root, "sorted"));
    writeFileSync(join(root, "sorted", "a"), "aaa");
    writeFileSync(join(root, "sorted", "b"), "b");
    writeFileSync(join(root, "sorted", "c"), "cc");
    await openDir(page, server.url, "/sorted");
    await row(page, "c").waitFor();
    // one task: the sort re-orders the list at once, the rows are repainted on the next frame
    const asked = await page.evaluate(() => {
      document.querySelector('[data-sort="size"]').click();
      document.querySelector('.row:not([hidden])[data-name="a"] [data-action="rename"]').click();
      return document.getElementById("ask-title").textContent;
    });
    expect(asked).toBe("Rename a to:");
    await page.click('#ask button[value="cancel"]');
    await page.locator('[data-sort="name"]').click();
  });

  it("makes a directory, renames and deletes (with confirmation)", async () => {
    await openDir(page, server.url, "/docs");
    await page.click("#mkdir");
    await answer(page, "made");
    await row(page, "made").waitFor();
    // the rows are drawn in arrival order, then sorted: a click in between lands on another row
    await listed(page);
    expect(existsSync(join(root, "docs", "made"))).toBe(true);

    await row(page, "one.txt").locator('[data-action="rename"]').click();
    await page.waitForSelector("#ask[open]");
    expect(await page.textContent("#ask-title")).toBe("Rename one.txt to:");
    await answer(page, "uno.txt");
    await row(page, "uno.txt").waitFor();
    await listed(page);
    expect(existsSync(join(root, "docs", "uno.txt"))).toBe(true);
    expect(existsSync(join(root, "docs", "one.txt"))).toBe(false);

    // cancel first: nothing happens
    await row(page, "uno.txt").locator('[data-action="delete"]').click();
    await page.waitForSelector("#ask[open]");
    await page.click('#ask button[value="cancel"]');
    expect(existsSync(join(root, "docs", "uno.txt"))).toBe(true);
    await row(page, "uno.txt").locator('[data-action="delete"]').click();
    await answer(page);
    await page.waitForSelector('.msg.info:has-text("Deleted /docs/uno.txt")');
    expect(existsSync(join(root, "docs", "uno.txt"))).toBe(false);

    // a folder by the folder picker (webkitdirectory): its tree is recreated, then downloaded as a tar
    mkdirSync(join(work, "folder", "sub"), { recursive: true });
    writeFileSync(join(work, "folder", "sub", "x.txt"), "x\n");
    writeFileSync(join(work, "folder", "y.txt"), "y\n");
    await page.setInputFiles("#folder-input", join(work, "folder"));
    await page.waitForSelector('#queue li[data-name="x.txt"][data-state="done"]');
    await page.waitForSelector('#queue li[data-name="y.txt"][data-state="done"]');
    expect(readFileSync(join(root, "docs", "folder", "sub", "x.txt"), "utf8")).toBe("x\n");
    await row(page, "folder").waitFor();
    const [tar] = await Promise.all([page.waitForEvent("download"), row(page, "folder").locator('[data-action="download"]').click()]);
    expect(tar.suggestedFilename()).toBe("folder.tar");
    await tar.saveAs(join(work, "folder.tar"));
    const { stdout } = await promisify(execFile)("tar", ["-tf", join(work, "folder.tar")]);
    expect(stdout.split("\n").filter(Boolean).sort()).toEqual(
      expect.arrayContaining([expect.stringMatching(/sub\/x\.txt$/), expect.stringMatching(/y\.txt$/)]),
    );
    await page.screenshot({ path: join(ARTIFACTS, "docs.png") });
  });
});

describe("the page against a server with JWT auth", () => {
  let server: AuthServer;
  let root: string;
  let page: Page;

  beforeAll(async () => {
    root = await tempDir("podfiles-web-auth-root-");
    writeFileSync(join(root, "keep.txt"), "keep\n");
    server = await startAuthServer(root, await tempDir("podfiles-web-auth-"));
    page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
  });
  afterAll(async () => {
    await page?.close();
    await server?.stop();
  });

  it("says UNAUTHENTICATED before sign-in, signs in with Basic → IssueToken, shows PERMISSION_DENIED for a read-only client", async () => {
    await page.goto(server.url);
    await page.waitForSelector('.msg.error[data-code="UNAUTHENTICATED"]');
    expect(await page.isVisible("#signin")).toBe(true);
    // ListContainers fails before sign-in: the suggestions are the containers opened before here (none)
    await page.waitForSelector('#container-form[data-suggestions="recent"]');
    expect(await page.locator("#recent-pod option").count()).toBe(0);

    await page.fill("#client", "reader");
    await page.fill("#password", "wrong-password");
    await page.click('#basic-form button[type="submit"]');
    await page.waitForSelector('.msg.error[data-code="UNAUTHENTICATED"]:has-text("invalid client credentials")');

    await page.fill("#client", "reader");
    await page.fill("#password", server.passwords.reader);
    await page.click('#basic-form button[type="submit"]');
    await listed(page);
    // signed in: the containers the reader may read
    await page.waitForSelector('#container-form[data-suggestions="listed"]');
    expect(await page.locator("#recent-pod option").evaluateAll((els) => els.map((e) => (e as unknown as { value: string; label: string }).value))).toEqual([
      "local",
    ]);
    await page.waitForSelector('#identity:has-text("jwt:reader")');
    expect(await rowNames(page)).toEqual(["keep.txt"]);
    // the token is in memory only: not in the URL, not in storage
    expect(page.url()).not.toMatch(/ey[A-Za-z0-9_-]{10,}/);
    expect(await page.evaluate(() => JSON.stringify(sessionStorage) + JSON.stringify(localStorage))).not.toMatch(/ey[A-Za-z0-9_-]{10,}/);

    await row(page, "keep.txt").locator('[data-action="delete"]').click();
    await answer(page);
    const msg = page.locator('.msg.error[data-code="PERMISSION_DENIED"]');
    await msg.waitFor();
    expect(await msg.textContent()).toMatch(/^Delete \/keep\.txt: Permission denied \(PERMISSION_DENIED\): jwt:reader cannot delete/);
    expect(existsSync(join(root, "keep.txt"))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, "permission-denied.png") });
  });
});
