// The web page's own code path in Chromium (Debian's, headless) against `podfiles serve` over
// TLS (browsers speak HTTP/2 only over TLS), next to a raw node:http2 baseline in the same run:
//   - upload: the page's queue (chunked BeginUpload/WriteUploadChunk/Commit, each chunk hashed while sent, from
//     setInputFiles to "done") and the SDK's upload alone (SHA-256 given), vs one fetch POST of
//     the same File to the raw server (written and fsync'd)
//   - download: the page's Download button to the file complete on disk, streamed through its
//     service worker, and (a context with service workers blocked) through a Blob, vs a fetch GET
//     from the raw server read to the end, and the same GET saved by the browser from a link
//   - a 100,000-entry directory: first rows on screen, all entries streamed
// Bounded: at most 1 GiB and 3 reps.   npm run bench:web -- [--mib 256] [--reps 1] [--entries 100000]
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import * as fs from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const MiB = 1024 * 1024;
const mib = Math.min(arg("mib", 256), 1024);
const reps = Math.min(arg("reps", 1), 3);
const entries = Math.min(arg("entries", 100_000), 200_000);
const log = (m) => process.stderr.write(`${m}\n`);
const repo = fileURLToPath(new URL("..", import.meta.url));
const executablePath = process.env.PODFILES_CHROMIUM ?? "/usr/bin/chromium";

const work = fs.mkdtempSync(join(tmpdir(), "podfiles-bench-web-"));
const root = join(work, "root");
fs.mkdirSync(join(root, "many"), { recursive: true });
const local = join(work, "local.bin");
{
  const fd = fs.openSync(local, "w");
  const buf = Buffer.allocUnsafe(4 * MiB);
  for (let i = 0; i < mib; i += 4) fs.writeSync(fd, randomFillSync(buf));
  fs.closeSync(fd);
}
fs.copyFileSync(local, join(root, "served.bin"));
for (let i = 0; i < entries; i++) fs.closeSync(fs.openSync(join(root, "many", `entry-${String(i).padStart(6, "0")}`), "w"));
execFileSync(
  "openssl",
  [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=127.0.0.1",
    "-keyout",
    join(work, "key.pem"),
    "-out",
    join(work, "cert.pem"),
  ],
  { stdio: "ignore" },
);
const tls = { key: fs.readFileSync(join(work, "key.pem")), cert: fs.readFileSync(join(work, "cert.pem")) };

// the raw baseline: GET streams served.bin, POST writes the body to a file and fsyncs (what podfiles does)
const raw = http2.createSecureServer({ ...tls, allowHTTP1: true, settings: { initialWindowSize: 8 * MiB } });
raw.on("stream", (stream, headers) => {
  stream.on("error", () => {});
  const cors = { "access-control-allow-origin": "*" };
  if (headers[":method"] === "GET" && !headers[":path"].startsWith("/download")) {
    stream.respond({ ":status": 200, "content-type": "text/html" });
    stream.end("<!doctype html><title>raw</title>");
  } else if (headers[":method"] === "GET") {
    const attachment = headers[":path"] === "/download?attachment" ? { "content-disposition": "attachment; filename=raw.bin" } : {};
    stream.respond({
      ":status": 200,
      "content-type": "application/octet-stream",
      "content-length": fs.statSync(join(root, "served.bin")).size,
      ...attachment,
      ...cors,
    });
    fs.createReadStream(join(root, "served.bin"), { highWaterMark: MiB }).pipe(stream);
  } else {
    const out = fs.openSync(join(work, "raw-upload.bin"), "w");
    stream.on("data", (c) => fs.writeSync(out, c));
    stream.on("end", () => {
      fs.fsyncSync(out);
      fs.closeSync(out);
      stream.respond({ ":status": 200, ...cors });
      stream.end("ok");
    });
  }
});
await new Promise((r) => raw.listen(0, "127.0.0.1", r));
const rawUrl = `https://127.0.0.1:${raw.address().port}`;

const server = spawn(
  process.execPath,
  [join(repo, "bin/podfiles.js"), "serve", "--root", root, "--port", "0", "--tls-cert", join(work, "cert.pem"), "--tls-key", join(work, "key.pem")],
  { stdio: ["ignore", "ignore", "pipe"] },
);
const port = await new Promise((resolve, reject) => {
  let err = "";
  server.stderr.on("data", (d) => {
    err += d;
    const m = /"msg":"listening".*?"port":(\d+)/.exec(err);
    if (m) resolve(Number(m[1]));
  });
  server.once("exit", (c) => reject(new Error(`podfiles serve exited ${c}: ${err}`)));
});
const url = `https://127.0.0.1:${port}`;

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox", "--ignore-certificate-errors", "--disable-dev-shm-usage"] });
const context = await browser.newContext({ acceptDownloads: true, ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
// the same page where no service worker may run: the page then saves its downloads through a Blob
const blobContext = await browser.newContext({ acceptDownloads: true, ignoreHTTPSErrors: true, serviceWorkers: "block" });
const blobPage = await blobContext.newPage();
const results = {
  mib,
  entries,
  upload: [],
  sdkUpload: [],
  rawUpload: [],
  download: [],
  downloadEvent: [],
  blobDownload: [],
  blobDownloadEvent: [],
  rawDownload: [],
  rawSaved: [],
  listFirstRowsMs: [],
  listAllMs: [],
  refreshFirstRowsMs: [],
  refreshAllMs: [],
};
const mibps = (ms) => mib / (ms / 1000);
const expected = createHash("sha256").update(fs.readFileSync(local)).digest("hex");

try {
  for (let rep = 0; rep < reps; rep++) {
    log(`rep ${rep + 1}/${reps}`);
    // listing
    await page.goto(`${url}/#ns=local&pod=local&c=local&path=%2Fmany`);
    await page.waitForSelector('#list-status[data-state="done"], #list-status[data-state="failed"]', { timeout: 120_000, state: "attached" });
    const l = await page.evaluate(() => window.podfilesPage.listing);
    if (l.allMs < 0) throw new Error(`listing failed: ${await page.textContent("#messages")}`);
    if (l.count !== entries) throw new Error(`listed ${l.count} of ${entries}`);
    results.listFirstRowsMs.push(l.firstRowsMs);
    results.listAllMs.push(l.allMs);
    // again (Refresh): the server's directory and inode caches warm, the connection open
    await page.click("#refresh");
    await page.waitForFunction(() => window.podfilesPage.listing.allMs > 0, undefined, { timeout: 120_000 });
    const again = await page.evaluate(() => window.podfilesPage.listing);
    results.refreshFirstRowsMs.push(again.firstRowsMs);
    results.refreshAllMs.push(again.allMs);

    // raw upload and download from a page of the raw server's own origin (the podfiles page's CSP allows no other)
    await page.goto(`${rawUrl}/`);
    await page.evaluate(() => document.body.append(Object.assign(document.createElement("input"), { type: "file", id: "bench-file", hidden: true })));
    await page.setInputFiles("#bench-file", local);
    results.rawUpload.push(
      await page.evaluate(async (u) => {
        const f = document.getElementById("bench-file").files[0];
        const t = performance.now();
        const r = await fetch(`${u}/upload`, { method: "POST", body: f });
        await r.text();
        return performance.now() - t;
      }, rawUrl),
    );
    results.rawDownload.push(
      await page.evaluate(async (u) => {
        const t = performance.now();
        const r = await fetch(`${u}/download`);
        const reader = r.body.getReader();
        let n = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          n += value.length;
        }
        if (n === 0) throw new Error("the raw download delivered nothing");
        return performance.now() - t;
      }, rawUrl),
    );
    // the raw GET saved by the browser: a link to an attachment, to the file complete on disk
    {
      const t = Date.now();
      const [dl] = await Promise.all([
        page.waitForEvent("download", { timeout: 600_000 }),
        page.evaluate((u) => {
          const a = Object.assign(document.createElement("a"), { href: `${u}/download?attachment` });
          document.body.append(a);
          a.click();
        }, rawUrl),
      ]);
      await dl.path();
      results.rawSaved.push(Date.now() - t);
      await dl.delete();
    }
    await page.goto(`${url}/#ns=local&pod=local&c=local&path=%2F`);
    await page.waitForSelector('#list-status[data-state="done"]');
    await page.evaluate(() => document.body.append(Object.assign(document.createElement("input"), { type: "file", id: "bench-file", hidden: true })));
    await page.setInputFiles("#bench-file", local);
    // the SDK's upload alone (digest known: one pass)
    results.sdkUpload.push(
      await page.evaluate(async (sha256) => {
        const f = document.getElementById("bench-file").files[0];
        const t = performance.now();
        await window.podfilesPage.client().upload(f, "/sdk-upload.bin", { sha256, chunkSize: 4 * 1024 * 1024, overwrite: "overwrite" });
        return performance.now() - t;
      }, expected),
    );
    // the page's queue: the chunked upload, each chunk hashed while it is sent, to "done"
    fs.rmSync(join(root, "local.bin"), { force: true });
    const t0 = Date.now();
    await page.setInputFiles("#file-input", local);
    await page.waitForSelector('#queue li[data-name="local.bin"][data-state="done"]', { timeout: 600_000 });
    results.upload.push(Date.now() - t0);
    await page.evaluate(() => document.querySelector('#queue li[data-name="local.bin"]')?.remove());
    // the page's Download button, to the file complete on disk: streamed (its service worker), then through a Blob
    for (const [p, total, event, how] of [
      [page, results.download, results.downloadEvent, "stream"],
      [blobPage, results.blobDownload, results.blobDownloadEvent, "blob"],
    ]) {
      if (p === blobPage) await p.goto(`${url}/#ns=local&pod=local&c=local&path=%2F`);
      await p.waitForSelector('.row:not([hidden])[data-name="served.bin"]');
      const t1 = Date.now();
      const [dl] = await Promise.all([
        p.waitForEvent("download", { timeout: 600_000 }),
        p.click('.row:not([hidden])[data-name="served.bin"] [data-action="download"]'),
      ]);
      event.push(Date.now() - t1);
      const file = await dl.path();
      total.push(Date.now() - t1);
      const item = p.locator('#queue li[data-kind="download"][data-name="served.bin"]').first();
      await p.waitForSelector('#queue li[data-kind="download"][data-name="served.bin"]:is([data-state="done"], [data-state="failed"])');
      if ((await item.getAttribute("data-saved")) !== how) throw new Error(`the page saved by ${await item.getAttribute("data-saved")}, not ${how}`);
      const got = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
      if (got !== expected || (await item.getAttribute("data-state")) !== "done") throw new Error("downloaded bytes differ");
      await dl.delete();
      await p.evaluate(() => document.querySelector('#queue li[data-kind="download"]')?.remove());
    }
  }
} finally {
  await browser.close();
  server.kill("SIGTERM");
  raw.close();
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const line = (name, ms, base) =>
  `${name.padEnd(44)} ${mibps(med(ms)).toFixed(1).padStart(7)} MiB/s${base ? `  (${(mibps(med(ms)) / mibps(med(base))).toFixed(2)}× raw)` : ""}`;
console.log(
  `Chromium ${execFileSync(executablePath, ["--version"]).toString().trim()}, ${mib} MiB, ${reps} rep(s), median; load average ${fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`,
);
console.log(line("raw http2 fetch POST (one request)", results.rawUpload));
console.log(line("page upload queue (chunked upload, SHA-256 while sent)", results.upload, results.rawUpload));
console.log(line("SDK chunked upload (SHA-256 given)", results.sdkUpload, results.rawUpload));
console.log(line("raw http2 fetch GET", results.rawDownload));
console.log(line("raw http2 GET saved by the browser (a link)", results.rawSaved, results.rawDownload));
console.log(line("page download, streamed to disk (service worker)", results.download, results.rawDownload));
console.log(line("page download through a Blob, to the file on disk", results.blobDownload, results.rawDownload));
console.log(line("page download through a Blob, to the download event", results.blobDownloadEvent, results.rawDownload));
console.log(
  `${entries.toLocaleString("en-US")}-entry listing: first rows on screen ${med(results.listFirstRowsMs).toFixed(0)} ms, all streamed ${med(results.listAllMs).toFixed(0)} ms; on Refresh ${med(results.refreshFirstRowsMs).toFixed(0)} ms / ${med(results.refreshAllMs).toFixed(0)} ms`,
);
console.log(JSON.stringify(results));
fs.rmSync(work, { recursive: true, force: true });
