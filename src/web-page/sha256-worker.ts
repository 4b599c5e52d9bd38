// The Web Worker behind WorkerSha256 (worker-sha256.ts): one SHA-256 per worker, fed the bytes in
// order, answering the digest once asked. It runs hash-wasm's WebAssembly SHA-256, 1.6× the
// JavaScript one (sha256.ts) on this machine in Node: 225 against 139 MiB/s on 1 MiB updates
// (2026-12-01). Compiling it needs 'wasm-unsafe-eval', which only this script's own
// Content-Security-Policy grants (src/server/static-page.ts); where compiling is refused anyway,
// sha256.ts runs instead. Bytes that arrive while the module compiles wait, in order.
import { createSHA256 } from "hash-wasm";
import { Sha256 } from "../client/sha256.js";

interface Engine {
  name: "wasm" | "js";
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

const waiting: Array<Uint8Array | "digest"> = [];
let engine: Engine | undefined;

/** Which SHA-256 this worker runs, once known (read by test/web/page.spec.ts). */
const ready: Promise<Engine["name"]> = createSHA256()
  .then(
    (wasm): Engine => {
      wasm.init();
      return { name: "wasm", update: (data) => wasm.update(data), digest: () => wasm.digest("binary") };
    },
    (): Engine => {
      const js = new Sha256();
      return { name: "js", update: (data) => js.update(data), digest: () => js.digest() };
    },
  )
  .then((chosen) => {
    engine = chosen;
    for (const message of waiting.splice(0)) handle(chosen, message);
    return chosen.name;
  });
(self as unknown as { sha256Engine: Promise<string> }).sha256Engine = ready;

function handle(e: Engine, message: Uint8Array | "digest"): void {
  if (message === "digest") self.postMessage(e.digest());
  else e.update(message);
}

self.onmessage = (e: MessageEvent<Uint8Array | "digest">) => {
  if (engine) handle(engine, e.data);
  else waiting.push(e.data);
};
