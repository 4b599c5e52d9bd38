// `npm run build:web`: the page into dist/web-page (served at / by src/server/static-page.ts).
// Relative asset URLs (base "./"), hashed names (cached for a year), no inline scripts (the
// Content-Security-Policy allows scripts from the page's own origin only).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

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
  },
});
