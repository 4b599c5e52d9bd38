// The garbage collector of a podfiles server process (`serve`, `agent`): V8's incremental marking is
// switched off, so the old generation is marked only when it is full, in one pause.
//
// Why: every 64 KiB that Node's HTTP/2 reads from a socket is a new ArrayBuffer, counted by V8 as
// external memory, and with incremental marking each ~30 MiB of it starts a full mark of the heap
// ("GC in old space requested"): 35 mark-compacts per GiB uploaded, ~0.3–0.4 s of CPU, on a heap
// of 13–16 MB that has not grown. Without incremental marking the same buffers are freed by
// scavenges. Measured on this 2-core VM, 1 GiB uploads to `podfiles serve` (server CPU per GiB):
// SDK with CRC-32 2.3–2.5 → 1.4–1.6 s and 2.16 → 1.73 s wall; SDK with SHA-256 2.5–2.7 → 1.7–1.9 s
// and 2.4 → 2.0 s wall; curl (16 KiB frames) SHA-256 2.66–2.74 → 2.31–2.45 s; peak RSS unchanged
// (128 vs 131 MB). Downloads showed no difference (server CPU per GiB, SDK with CRC-32, 6 runs
// each: 0.88–1.04 s against 0.95–1.07 s), nor did a downloading client process with the flag, so
// only the server commands set it.
//
// Set before the server stack is loaded, while the heap is a few MB and no marking has started
// (V8 reads the flag when it would start marking). PODFILES_INCREMENTAL_MARKING=1 keeps V8's default.
import { setFlagsFromString } from "node:v8";

export function tuneServerGc(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.PODFILES_INCREMENTAL_MARKING === "1") return false;
  setFlagsFromString("--no-incremental-marking");
  return true;
}
