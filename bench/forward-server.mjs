// The forwarding agent of bench/forward.mjs: a podfiles server (from the bench's dist snapshot)
// over an empty directory whose placement says every pod runs on "node-b", the agent at argv[2]
// (a stand-in for the informer and the pod lookup of a cluster). Prints its "listening" line on stdout.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";

const distDir = process.env.PODFILES_BENCH_DIST ?? fileURLToPath(new URL("../dist", import.meta.url));
const { createServer } = await import(pathToFileURL(`${distDir}/src/server/server.js`).href);
const { LocalResolver } = await import(pathToFileURL(`${distDir}/src/resolve/local-resolver.js`).href);
const { silentLogger } = await import(pathToFileURL(`${distDir}/src/log.js`).href);

const peer = process.argv[2];
const resolver = new LocalResolver({ root: mkdtempSync(join(tmpdir(), "podfiles-fwd-empty-")) });
const server = await createServer({
  resolver,
  logger: silentLogger,
  forward: { self: "node-a", locate: async () => ({ node: "node-b", address: peer }) },
}).listen(0, "127.0.0.1");
console.log(JSON.stringify({ msg: "listening", port: server.port, url: server.url }));
process.once("SIGTERM", () => server.close().then(() => process.exit(0)));
