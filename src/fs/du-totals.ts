// DiskUsage's totals from a walk in tree-walk.ts order (all entries of a directory, then each of
// its subdirectories in the order they were listed, depth first): a directory's total is final
// once the walk has moved past its last descendant, so it is reported then, children before their
// parent as du(1) does. Held: one frame per directory on the current path, and per frame the
// subdirectories not yet visited (name and own size) — the same the walk itself holds.
import type { DiskUsageEntry } from "./container-fs.js";

interface Pending {
  name: string;
  bytes: bigint;
}

interface Frame {
  path: string;
  depth: number;
  bytes: bigint;
  files: bigint;
  directories: bigint;
  pending: Pending[];
  next: number;
}

const join = (dir: string, name: string) => (dir === "/" ? "/" + name : dir + "/" + name);

export class DuTotals {
  private readonly stack: Frame[];

  /** `maxDepth`: report directories down to this many levels below the top; 0 = all. */
  constructor(
    top: string,
    topBytes: bigint,
    private readonly maxDepth: number,
  ) {
    this.stack = [{ path: top, depth: 0, bytes: topBytes, files: 0n, directories: 0n, pending: [], next: 0 }];
  }

  /**
   * One entry of the directory `dir` (its own size counted as `bytes`). Returns the directories
   * whose totals became final before it, to report in order.
   */
  add(dir: string, name: string, isDirectory: boolean, bytes: bigint): DiskUsageEntry[] {
    const done: DiskUsageEntry[] = [];
    this.moveTo(dir, done);
    const f = this.stack[this.stack.length - 1]!;
    if (isDirectory) f.pending.push({ name, bytes });
    else {
      f.bytes += bytes;
      f.files++;
    }
    return done;
  }

  /** The totals still open (the top last) once the walk has ended. */
  finish(): DiskUsageEntry[] {
    const done: DiskUsageEntry[] = [];
    while (this.stack.length > 0) this.step(done);
    return done;
  }

  private moveTo(dir: string, done: DiskUsageEntry[]): void {
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) throw new Error(`disk usage: ${dir} is outside the walk`);
      if (top.path === dir) return;
      this.step(done);
    }
  }

  /** Enters the top frame's next subdirectory, or closes the top frame when it has none left. */
  private step(done: DiskUsageEntry[]): void {
    const f = this.stack[this.stack.length - 1]!;
    const child = f.pending[f.next];
    if (child) {
      f.pending[f.next++] = undefined as unknown as Pending; // let the name go
      this.stack.push({ path: join(f.path, child.name), depth: f.depth + 1, bytes: child.bytes, files: 0n, directories: 0n, pending: [], next: 0 });
      return;
    }
    this.stack.pop();
    const parent = this.stack[this.stack.length - 1];
    if (parent) {
      parent.bytes += f.bytes;
      parent.files += f.files;
      parent.directories += f.directories + 1n;
    }
    if (this.maxDepth === 0 || f.depth <= this.maxDepth)
      done.push({ path: f.path, bytes: f.bytes, files: f.files, directories: f.directories, depth: f.depth });
  }
}
