// Size and digest checks shared by the streaming and the chunked upload.
import { invalidArgument, dataLoss } from "../errors.js";
import type { UploadPlan } from "./convert.js";
import { createDigest, digestName, type Digest } from "./digest.js";

export class UploadCheck {
  private readonly hash: Digest;
  received = 0n;

  constructor(
    private readonly plan: UploadPlan,
    private readonly path: string,
  ) {
    this.hash = createDigest(plan.digest);
  }

  get algorithm() {
    return this.hash.algorithm;
  }

  /** Counts and hashes a chunk; refuses data beyond the expected size at once. */
  add(chunk: Uint8Array): void {
    this.received += BigInt(chunk.length);
    if (this.plan.expectedSize !== undefined && this.received > this.plan.expectedSize) {
      throw invalidArgument(`${this.path}: more data than the expected size of ${this.plan.expectedSize} bytes`);
    }
    this.hash.update(chunk);
  }

  /** Final checks before the file may appear; returns the digest (empty with NONE). */
  finish(): Uint8Array {
    if (this.plan.expectedSize !== undefined && this.received !== this.plan.expectedSize) {
      throw invalidArgument(`${this.path}: received ${this.received} bytes, expected ${this.plan.expectedSize}; nothing was written`);
    }
    const digest = this.hash.digest();
    const want = this.plan.expectedDigest;
    if (want && !Buffer.from(want).equals(digest)) {
      throw dataLoss(
        `${this.path}: ${digestName(this.hash.algorithm)} mismatch (got ${Buffer.from(digest).toString("hex")}, expected ${Buffer.from(want).toString("hex")}); nothing was written`,
      );
    }
    return digest;
  }
}
