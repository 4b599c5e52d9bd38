// A transfer's SHA-256 computed in a Web Worker (sha256-worker.ts), so that the page's thread
// receives, checks the framing and assembles the file (or reads and sends an upload's chunks)
// while the worker hashes: side by side
// instead of one after the other (the page's download ran at 0.35× a raw fetch in Chromium with
// the hash on its own thread). Each update is a copy of the bytes handed over by transfer (the
// caller keeps its chunk for the file); the digest is answered once every byte before it is in.
// Where no worker can be made (no Worker, a policy refusing it), the same SHA-256 runs in place.
import type { StreamHasher } from "../client/hasher.js";
import { Sha256 } from "../client/sha256.js";

export class WorkerSha256 implements StreamHasher {
  private readonly worker: Worker;
  private failure?: Error;

  private constructor() {
    this.worker = new Worker(new URL("./sha256-worker.ts", import.meta.url), { type: "module" });
    this.worker.onerror = (e) => {
      this.failure = new Error(`the SHA-256 worker failed: ${e.message || "it could not start"}`);
    };
  }

  /** A worker's SHA-256, or sha256.ts in place where no worker can be made. */
  static create(): StreamHasher {
    try {
      return typeof Worker === "function" ? new WorkerSha256() : new Sha256();
    } catch {
      return new Sha256();
    }
  }

  update(data: Uint8Array): this {
    const copy = data.slice();
    this.worker.postMessage(copy, [copy.buffer]);
    return this;
  }

  dispose(): void {
    this.worker.terminate();
  }

  digest(): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.worker.onmessage = (e: MessageEvent<Uint8Array>) => resolve(e.data);
      this.worker.onerror = (e) => reject(new Error(`the SHA-256 worker failed: ${e.message || "it could not start"}`));
      this.worker.postMessage("digest");
    }).finally(() => this.worker.terminate());
  }
}
