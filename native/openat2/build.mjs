// Builds the openat2 Node-API addon with the node-gyp bundled with npm, offline:
// the headers shipped next to the running node binary are used when present.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const prefix = dirname(dirname(process.execPath));
const args = ["rebuild"];
if (existsSync(join(prefix, "include", "node", "node_api.h"))) args.push(`--nodedir=${prefix}`);

// npm run-script exports npm_config_node_gyp (npm's bundled node-gyp); else ask npm for it.
const gyp = process.env.npm_config_node_gyp;
const res = gyp
  ? spawnSync(process.execPath, [gyp, ...args], { cwd: here, stdio: "inherit" })
  : spawnSync("npm", ["exec", "--", "node-gyp", ...args], { cwd: here, stdio: "inherit" });
if (res.error) throw res.error;
process.exit(res.status ?? 1);
