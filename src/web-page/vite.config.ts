// `npm run build:web`: the page into dist/web-page (served at / by src/server/static-page.ts).
// Relative asset URLs (base "./"), hashed names (cached for a year), no inline scripts (the
// Content-Security-Policy allows scripts from the page's own origin only). The save worker
// (save-worker.ts, a service worker) keeps one fixed name, save-worker.js beside index.html: a
// browser looks for a service worker's new version under the name it registered.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const page = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  logLevel: "warn",
  build: {
    outDir: fileURLToPath(new URL("../../dist/web-page", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
    rollupOptions: {
      input: { index: page("index.html"), "save-worker": page("save-worker.ts") },
      output: { entryFileNames: (chunk) => (chunk.name === "save-worker" ? "save-worker.js" : "assets/[name]-[hash].js") },
    },
  },
});
