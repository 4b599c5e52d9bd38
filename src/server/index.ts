// podfiles/server — the server as a library: `import { createServer } from "podfiles/server"`.
export * from "./server.js";
export { LocalResolver } from "../resolve/local-resolver.js";
