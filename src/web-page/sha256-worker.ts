// The Web Worker behind WorkerSha256 (worker-sha256.ts): one SHA-256 per worker, fed the bytes in
// order, answering the digest once asked. Runs sha256.ts, the same JavaScript SHA-256 the page
// would otherwise run on its own thread.
import { Sha256 } from "../client/sha256.js";

const hash = new Sha256();
self.onmessage = (e: MessageEvent<Uint8Array | "digest">) => {
  if (e.data === "digest") self.postMessage(hash.digest());
  else hash.update(e.data);
};
