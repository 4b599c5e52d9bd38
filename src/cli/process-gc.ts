// The garbage collector of a podfiles process (the CLI: `serve`, `agent` and the client commands):
// on Node 20, V8's incremental marking is switched off, so the old generation is marked only when
// it is full, in one pause.
//
// Why: every 64 KiB that Node's HTTP/2 reads from a socket is a new ArrayBuffer, counted by V8 as
// external memory, and with incremental marking each ~30 MiB of it could start a full mark of the
// heap ("GC in old space requested"): 16–37 markings per GiB uploaded, ~0.3–0.4 s of CPU, on a heap
// of 13–16 MB that had not grown. Without incremental marking the same buffers are freed by
// scavenges. Measured on this 2-core VM, 1 GiB:
// - uploads to `podfiles serve`, server CPU per GiB: SDK with CRC-32 2.3–2.5 → 1.4–1.6 s (wall
//   2.16 → 1.73 s), SDK with SHA-256 2.5–2.7 → 1.7–1.9 s (2.4 → 2.0 s), curl with SHA-256
//   2.66–2.74 → 2.31–2.45 s; peak RSS unchanged (128 vs 131 MB);
// - `podfiles get` to a file: 1.71–1.98 → 1.29–1.50 s of user CPU, wall 2.17–2.42 → 1.94–2.12 s;
// - no difference for downloads on the server (0.88–1.04 against 0.95–1.07 CPU-s/GiB) or `put`.
// That is Node 20 (V8 11.3). Node 24 (V8 13.6) gained nothing (server CPU per GiB uploaded
// 2.16–2.39 s with the flag, 2.23–2.48 s without) and made 9 full pauses of the 23 incremental
// markings with 52 MiB more RSS in test/server/process-gc.spec.ts: there V8's default stays, as on
// versions not measured.
// A library does not change a host process's collector: only the CLI's entry points call this.
//
// Called before any command runs, while the heap is a few MB and no marking has started (V8 reads
// the flag when it would start one). PODFILES_INCREMENTAL_MARKING=1 keeps V8's default.
import { setFlagsFromString } from "node:v8";

/** Whether tuneGc switches incremental marking off in this Node.js (where it was measured to help). */
export function gcTuningApplies(env: NodeJS.ProcessEnv = process.env, nodeVersion = process.versions.node): boolean {
  return env.PODFILES_INCREMENTAL_MARKING !== "1" && nodeVersion.split(".")[0] === "20";
}

export function tuneGc(env: NodeJS.ProcessEnv = process.env): boolean {
  if (!gcTuningApplies(env)) return false;
  setFlagsFromString("--no-incremental-marking");
  return true;
}
