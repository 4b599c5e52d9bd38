// docs/web-page.png, the README's picture of the page: `podfiles serve` on a copy of
// examples/demo, one upload done, in Debian's Chromium (headless).   node scripts/web-page-screenshot.mjs
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = fileURLToPath(new URL("..", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "podfiles-shot-"));
const root = join(work, "root");
cpSync(join(repo, "examples/demo"), root, { recursive: true, verbatimSymlinks: true });
writeFileSync(join(work, "report.pdf"), Buffer.alloc(3 * 1024 * 1024, 7));
const server = spawn(process.execPath, [join(repo, "bin/podfiles.js"), "serve", "--root", root, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
const port = await new Promise((resolve) => {
  let err = "";
  server.stderr.on("data", (d) => {
    err += d;
    const m = /"msg":"listening".*?"port":(\d+)/.exec(err);
    if (m) resolve(Number(m[1]));
  });
});
const browser = await chromium.launch({ executablePath: process.env.PODFILES_CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 420 } });
  await page.goto(`http://127.0.0.1:${port}/`);
  await page.waitForSelector('#list-status[data-state="done"]');
  await page.setInputFiles("#file-input", join(work, "report.pdf"));
  await page.waitForSelector('#queue li[data-state="done"]');
  await page.waitForSelector('.row:not([hidden])[data-name="report.pdf"]');
  await page.screenshot({ path: join(repo, "docs/web-page.png") });
} finally {
  await browser.close();
  server.kill("SIGTERM");
}
