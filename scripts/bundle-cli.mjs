// Bundles the CLI's client commands (dist/src/cli/client-main.js, compiled by tsc) into
// dist/bundle/ with rolldown: one file to load instead of a few hundred modules. Part of
// `npm run build`; bin/podfiles.js runs it for ls, stat, get, put, mv, rm and mkdir.
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { build } from "rolldown";

const root = fileURLToPath(new URL("..", import.meta.url));
await rm(`${root}/dist/bundle`, { recursive: true, force: true });
await build({
  input: `${root}/dist/src/cli/client-main.js`,
  platform: "node",
  logLevel: "warn",
  output: { dir: `${root}/dist/bundle`, format: "esm", entryFileNames: "client-main.js", chunkFileNames: "[name]-[hash].js" },
});
