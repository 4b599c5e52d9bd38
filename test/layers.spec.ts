// Imports under src/ run one way: cli → auth → server → handlers → resolve → fs (auth plugs its
// interceptors into the server's call context and never reaches into the handlers), the client
// API (src/client, src/index.ts, src/web.ts) stands apart from the server stack, and no file
// imports itself through a cycle. Every import is read with TypeScript's own scanner (static,
// type-only, re-exports and dynamic import()).
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");

/** Which layer a path (relative to the repo root) belongs to; the most specific prefix wins. */
const LAYER_PREFIXES: [prefix: string, layer: string][] = [
  ["src/index.ts", "client entry"],
  ["src/web.ts", "client entry"],
  ["src/client/", "client"],
  ["src/web-page/", "web page"],
  ["src/cli/", "cli"],
  ["src/auth/", "auth"],
  ["src/server/", "server"],
  ["src/handlers/", "handlers"],
  ["src/resolve/", "resolve"],
  ["src/cri/", "cri"],
  ["src/fs/confine/", "fs/confine"],
  ["src/fs/name-bytes.ts", "fs/name-bytes"],
  ["src/fs/", "fs"],
  ["src/errors.ts", "errors"],
  ["src/log.ts", "log"],
  ["src/direct-io.ts", "direct-io"],
  ["src/pending-writes.ts", "pending-writes"],
  ["src/tar-feed.ts", "tar-feed"],
  ["src/content-disposition.ts", "content-disposition"],
  ["gen/", "gen"],
];

/** The layers each one may import directly; what those may import it may import too. gen, log, direct-io, pending-writes, tar-feed and content-disposition (leaves: node built-ins or globals only): anyone. */
const MAY_IMPORT: Record<string, string[]> = {
  "client entry": ["client"],
  /** the browser page: the SDK's browser entry (src/web.ts) and its client modules, nothing of the server */
  "web page": ["client entry", "client"],
  client: [],
  cli: ["client", "auth", "server"],
  auth: ["server"],
  server: ["handlers"],
  handlers: ["resolve"],
  resolve: ["cri", "fs"],
  cri: [],
  fs: ["errors"],
  errors: ["fs/confine"],
  "fs/confine": ["fs/name-bytes"],
  "fs/name-bytes": [],
};
const ANYONE = new Set(["gen", "log", "direct-io", "pending-writes", "tar-feed", "content-disposition"]);
/** auth sits beside the server: it reads and writes the server's call context, never the handlers. */
const NEVER: Record<string, string[]> = { auth: ["handlers"] };

function layerOf(path: string): string | undefined {
  let best: [string, string] | undefined;
  for (const [prefix, layer] of LAYER_PREFIXES) {
    if ((path === prefix || path.startsWith(prefix)) && (!best || prefix.length > best[0].length)) best = [prefix, layer];
  }
  return best?.[1];
}

function reachable(layer: string): Set<string> {
  const seen = new Set<string>();
  const todo = [...(MAY_IMPORT[layer] ?? [])];
  while (todo.length) {
    const l = todo.pop()!;
    if (seen.has(l)) continue;
    seen.add(l);
    todo.push(...(MAY_IMPORT[l] ?? []));
  }
  for (const l of NEVER[layer] ?? []) seen.delete(l);
  return seen;
}

/** file → the repo files it imports (relative specifiers only; ".js" resolved to the ".ts" source). */
type ImportGraph = Map<string, string[]>;

function importsOf(file: string, source: string): string[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith("."))
    .map((spec) => join(dirname(file), spec).replace(/\.js$/, ".ts"));
}

function wrongWay(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    if (!from) {
      out.push(`${file}: in no layer (add it to LAYER_PREFIXES)`);
      continue;
    }
    const allowed = reachable(from);
    for (const target of targets) {
      const to = layerOf(target);
      if (to === from || (to !== undefined && (ANYONE.has(to) || allowed.has(to)))) continue;
      out.push(`${file} (${from}) imports ${target} (${to ?? "no layer"})`);
    }
  }
  return out;
}

/** Each import cycle once, as the files around it. */
function cycles(graph: ImportGraph): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      const s = state.get(next);
      if (s === "open") found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

function srcGraph(): ImportGraph {
  const graph: ImportGraph = new Map();
  const walk = (dir: string) => {
    for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (p.endsWith(".ts") && !p.endsWith(".spec.ts") && !p.endsWith(".test-util.ts")) graph.set(p, importsOf(p, readFileSync(join(ROOT, p), "utf8")));
    }
  };
  walk("src");
  return graph;
}

describe("layers under src/", () => {
  const graph = srcGraph();

  it("every import runs one way", () => {
    expect(graph.size).toBeGreaterThan(100);
    expect(wrongWay(graph)).toEqual([]);
  });

  it("no import cycles", () => {
    expect(cycles(graph).map((c) => c.join(" → "))).toEqual([]);
  });

  it("the public surfaces are short: src/index.ts and src/server/index.ts only re-export", () => {
    for (const f of ["src/index.ts", "src/server/index.ts"]) {
      const code = readFileSync(join(ROOT, f), "utf8")
        .split("\n")
        .filter((l) => l.trim() && !l.startsWith("//"));
      expect(
        code.every((l) => l.startsWith("export ")),
        f,
      ).toBe(true);
      expect(code.length, f).toBeLessThanOrEqual(15);
    }
  });
});

describe("errors", () => {
  it("are built in src/errors.ts only (its constructors, no inline new FileServiceError elsewhere)", () => {
    const inline = [...srcGraph().keys()].filter((f) => f !== "src/errors.ts" && readFileSync(join(ROOT, f), "utf8").includes("new FileServiceError("));
    expect(inline).toEqual([]);
  });
});

describe("the checks themselves", () => {
  it("find an import that runs the wrong way", () => {
    const graph: ImportGraph = new Map([
      ["src/auth/interceptor.ts", importsOf("src/auth/interceptor.ts", 'import { noteTarget } from "../handlers/convert.js";')],
      ["src/handlers/convert.ts", []],
      ["src/fs/root/read.ts", importsOf("src/fs/root/read.ts", 'const { x } = await import("../../server/server.js");')],
      ["src/client/core.ts", importsOf("src/client/core.ts", 'import type { Resolver } from "../resolve/resolver.js";')],
    ]);
    expect(wrongWay(graph)).toEqual([
      "src/auth/interceptor.ts (auth) imports src/handlers/convert.ts (handlers)",
      "src/fs/root/read.ts (fs) imports src/server/server.ts (server)",
      "src/client/core.ts (client) imports src/resolve/resolver.ts (resolve)",
    ]);
  });

  it("let a layer import what lies below it, gen and log", () => {
    const graph: ImportGraph = new Map([
      ["src/cli/commands/serve.ts", ["src/server/server.ts", "src/fs/confine/index.ts", "src/log.ts"]],
      ["src/handlers/stat.ts", ["gen/ts/podfiles/v1/files_pb.ts", "src/errors.ts", "src/handlers/convert.ts"]],
    ]);
    expect(wrongWay(graph)).toEqual([]);
  });

  it("find a cycle", () => {
    const graph: ImportGraph = new Map([
      ["src/fs/a.ts", ["src/fs/b.ts"]],
      ["src/fs/b.ts", ["src/fs/c.ts"]],
      ["src/fs/c.ts", ["src/fs/a.ts"]],
      ["src/fs/d.ts", ["src/fs/a.ts"]],
    ]);
    expect(cycles(graph)).toEqual([["src/fs/a.ts", "src/fs/b.ts", "src/fs/c.ts", "src/fs/a.ts"]]);
  });
});
