// Random hostile trees for the property tests: regular files, directories, symlinks (absolute ones
// and `..` chains that would land in a sentinel directory outside the root if the server ever
// followed them out), FIFOs, unix sockets, chains a few hundred directories deep, and names that
// are not UTF-8. Created with Buffer paths, so the bytes on disk are exactly the generated ones.
import { spawnSync } from "node:child_process";
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import fc from "fast-check";

export type LinkKind = "abs-sentinel" | "abs-sentinel-file" | "dotdot-base" | "dotdot-abs-sentinel" | "abs-tree" | "sibling" | "dangling" | "self";

export type TreeNode =
  | { kind: "file"; name: Buffer; size: number }
  | { kind: "dir"; name: Buffer; children: TreeNode[] }
  | { kind: "symlink"; name: Buffer; link: LinkKind }
  | { kind: "fifo"; name: Buffer }
  | { kind: "socket"; name: Buffer }
  | { kind: "deep"; name: Buffer; depth: number };

export const isUtf8 = (b: Buffer) => Buffer.from(b.toString("utf8"), "utf8").equals(b);

const plainName = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,11}$/).filter((s) => !s.includes("podfiles-"));
const oddName = fc.constantFrom(
  "é",
  "日本語",
  "emoji-😀",
  "space name",
  "new\nline",
  "tab\tname",
  "-dash",
  ".hidden",
  "back\\slash",
  "x".repeat(200),
  "\uFFFD",
);
/** Bytes ≥ 0x80 after a letter: mostly not UTF-8 (sometimes a valid sequence, which is fine too). */
export const nonUtf8Name = fc
  .uint8Array({ minLength: 1, maxLength: 4 })
  .map((bytes) => Buffer.concat([Buffer.from("n"), Buffer.from(Array.from(bytes, (b) => 0x80 | (b & 0x7f)))]));

export const nameArb: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 6, arbitrary: plainName.map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: oddName.map((s) => Buffer.from(s)) },
  { weight: 2, arbitrary: nonUtf8Name },
);

const linkArb = fc.constantFrom<LinkKind>("abs-sentinel", "abs-sentinel-file", "dotdot-base", "dotdot-abs-sentinel", "abs-tree", "sibling", "dangling", "self");

const leafArb: fc.Arbitrary<TreeNode> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("file" as const), name: nameArb, size: fc.nat(70_000) }) },
  // big enough that a tar Download is still streaming when a cancel arrives
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("file" as const), name: nameArb, size: fc.integer({ min: 1 << 20, max: 4 << 20 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("symlink" as const), name: nameArb, link: linkArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("fifo" as const), name: nameArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("socket" as const), name: nameArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("deep" as const), name: nameArb, depth: fc.integer({ min: 100, max: 400 }) }) },
);
const unique = (arb: fc.Arbitrary<TreeNode>, max: number, min = 0) =>
  fc.uniqueArray(arb, { minLength: min, maxLength: max, selector: (n) => n.name.toString("hex") });
const dir2Arb: fc.Arbitrary<TreeNode> = fc.record({ kind: fc.constant("dir" as const), name: nameArb, children: unique(leafArb, 4) });
const dir1Arb: fc.Arbitrary<TreeNode> = fc.record({ kind: fc.constant("dir" as const), name: nameArb, children: unique(fc.oneof(leafArb, dir2Arb), 5) });
export const treeArb: fc.Arbitrary<TreeNode[]> = unique(fc.oneof(leafArb, dir1Arb), 8, 1);

export interface Where {
  /** Absolute base directory holding root/, outside/ (the sentinel) and scratch/. */
  base: string;
  root: string;
  sentinel: string;
  scratch: string;
}

export interface Built {
  /** Request paths (container paths) of every node; a name that is not UTF-8 appears as its lossy decoding. */
  paths: string[];
  /** Paths through each symlink (e.g. "<link>/victim.txt", "<link>/new.txt"): where an escape would land in the sentinel. */
  throughLinks: string[];
  /** The paths of each kind of node (a deep chain's bottom file counts as a file, its middle as a dir). */
  byKind: Record<TreeNode["kind"], string[]>;
  counts: Record<TreeNode["kind"], number>;
  nonUtf8: number;
}

let scratchSeq = 0;

/** Creates `nodes` in the directory root/<rel> (rel is plain ASCII) and returns the paths requests can name. */
export async function buildTree(where: Where, rel: string, nodes: TreeNode[]): Promise<Built> {
  const kinds = () => ({ file: [], dir: [], symlink: [], fifo: [], socket: [], deep: [] });
  const out: Built = { paths: [], throughLinks: [], byKind: kinds(), counts: { file: 0, dir: 0, symlink: 0, fifo: 0, socket: 0, deep: 0 }, nonUtf8: 0 };
  const top = join(where.root, rel);
  mkdirSync(top, { recursive: true });
  // depth: directories between root and the node's parent (for `..` chains)
  const make = async (dirAbs: Buffer, dirReq: string, depth: number, list: TreeNode[]) => {
    for (const n of list) {
      const abs = Buffer.concat([dirAbs, Buffer.from("/"), n.name]);
      const req = `${dirReq}/${n.name.toString("utf8")}`;
      out.counts[n.kind]++;
      if (!isUtf8(n.name)) out.nonUtf8++;
      out.paths.push(req);
      out.byKind[n.kind].push(req);
      switch (n.kind) {
        case "file":
          writeFileSync(abs, Buffer.alloc(n.size, n.size % 251));
          break;
        case "dir":
          mkdirSync(abs);
          await make(abs, req, depth + 1, n.children);
          break;
        case "symlink": {
          const toBase = "../".repeat(depth + where.root.split("/").length - where.base.split("/").length);
          const target = {
            "abs-sentinel": where.sentinel,
            "abs-sentinel-file": `${where.sentinel}/victim.txt`,
            // inside the root this climbs to / and finds nothing; out of it, it reaches base/outside
            "dotdot-base": `${toBase}outside`,
            "dotdot-abs-sentinel": `${"../".repeat(depth + 40)}${where.sentinel.slice(1)}`,
            "abs-tree": `/${rel}`,
            sibling: list[0].name.toString("utf8"),
            dangling: "no-such-entry",
            self: n.name.toString("utf8"),
          }[n.link];
          symlinkSync(target, abs);
          out.throughLinks.push(`${req}/victim.txt`, `${req}/dir/inner.txt`, `${req}/new.txt`, `${req}/dir`);
          break;
        }
        case "fifo": {
          const tmp = join(where.scratch, `f${scratchSeq++}`);
          const r = spawnSync("mkfifo", [tmp]);
          if (r.status !== 0) throw new Error(`mkfifo: ${r.stderr}`);
          renameSync(tmp, abs);
          break;
        }
        case "socket": {
          // sun_path holds 108 bytes: bind in the scratch directory, then move the socket into place
          const tmp = join(where.scratch, `s${scratchSeq++}`);
          const srv = net.createServer();
          await new Promise<void>((resolve, reject) => srv.once("error", reject).listen(tmp, resolve));
          renameSync(tmp, abs);
          await new Promise((r) => srv.close(r));
          break;
        }
        case "deep": {
          const chain = Buffer.from(Array.from({ length: n.depth }, () => "d").join("/"));
          mkdirSync(Buffer.concat([abs, Buffer.from("/"), chain]), { recursive: true });
          writeFileSync(Buffer.concat([abs, Buffer.from("/"), chain, Buffer.from("/bottom.txt")]), "bottom\n");
          const bottom = `${req}/${chain.toString()}/bottom.txt`;
          const middle = `${req}/${"d/".repeat(Math.floor(n.depth / 2))}`;
          out.paths.push(bottom, middle);
          out.byKind.file.push(bottom);
          out.byKind.dir.push(middle);
          break;
        }
      }
    }
  };
  await make(Buffer.from(top), `/${rel}`, rel.split("/").length, nodes);
  return out;
}
