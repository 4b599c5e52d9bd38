// Size and SHA-256 checks shared by the streaming and the chunked upload.
import { createHash, type Hash } from "node:crypto";
import { invalidArgument, dataLoss } from "../errors.js";
import type { UploadPlan } from "./convert.js";

export class UploadCheck {
  private readonly hash: Hash = createHash("sha256");
  received = 0n;

  constructor(
    private readonly plan: UploadPlan,
    private readonly path: string,
  ) {}

  /** Counts and hashes a chunk; refuses data beyond the expected size at once. */
  add(chunk: Uint8Array): void {
    this.received += BigInt(chunk.length);
    if (this.plan.expectedSize !== undefined && this.received > this.plan.expectedSize) {
      throw invalidArgument(`${this.path}: more data than the expected size of ${this.plan.expectedSize} bytes`);
    }
    this.hash.update(chunk);
  }

  /** Final checks before the file may appear; returns the digest. */
  finish(): Uint8Array {
    if (this.plan.expectedSize !== undefined && this.received !== this.plan.expectedSize) {
      throw invalidArgument(`${this.path}: received ${this.received} bytes, expected ${this.plan.expectedSize}; nothing was written`);
    }
    const digest = new Uint8Array(this.hash.digest());
    const want = this.plan.expectedSha256;
    if (want && !Buffer.from(want).equals(digest)) {
      throw dataLoss(
        `${this.path}: SHA-256 mismatch (got ${Buffer.from(digest).toString("hex")}, expected ${Buffer.from(want).toString("hex")}); nothing was written`,
      );
    }
    return digest;
  }
}
