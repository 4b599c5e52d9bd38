// Size and digest checks shared by the streaming and the chunked upload.
import { invalidArgument, dataLoss } from "../errors.js";
import type { UploadPlan } from "./convert.js";
import { createDigest, digestName, expectedDigest, type Digest } from "./digest.js";

export class UploadCheck {
  private readonly hash: Digest;
  private expectedSize?: bigint;
  private expectedDigest?: Uint8Array;
  private trailed = false;
  private result?: Uint8Array;
  received = 0n;

  constructor(
    plan: UploadPlan,
    private readonly path: string,
  ) {
    this.hash = createDigest(plan.digest);
    this.expectedSize = plan.expectedSize;
    this.expectedDigest = plan.expectedDigest;
  }

  /** Whether an UploadTrailer came (no data may follow it). */
  get trailerSeen(): boolean {
    return this.trailed;
  }

  /**
   * An UploadTrailer's expectations, checked as the header's are: one trailer, after the data; a
   * value the header also gave must be the same; the digest in the header's algorithm and length.
   */
  trailer(t: { expectedSize?: bigint; expectedDigest: Uint8Array }): void {
    if (this.trailed) throw invalidArgument(`${this.path}: a second Upload trailer; send one, last`);
    this.trailed = true;
    const size = t.expectedSize;
    if (size !== undefined) {
      if (this.expectedSize !== undefined && this.expectedSize !== size) {
        throw invalidArgument(`${this.path}: the trailer's expected_size ${size} differs from the header's ${this.expectedSize}`);
      }
      this.expectedSize = size;
    }
    const digest = expectedDigest(this.hash.algorithm, t.expectedDigest);
    if (digest) {
      if (this.expectedDigest && !Buffer.from(this.expectedDigest).equals(digest)) {
        throw invalidArgument(`${this.path}: the trailer's expected_digest differs from the header's`);
      }
      this.expectedDigest = digest;
    }
  }

  get algorithm() {
    return this.hash.algorithm;
  }

  /** Counts and hashes a chunk; refuses data beyond the expected size at once. */
  add(chunk: Uint8Array): void {
    if (this.trailed) throw invalidArgument(`${this.path}: a data message after the Upload trailer; the trailer comes last`);
    this.received += BigInt(chunk.length);
    if (this.expectedSize !== undefined && this.received > this.expectedSize) {
      throw invalidArgument(`${this.path}: more data than the expected size of ${this.expectedSize} bytes`);
    }
    this.hash.update(chunk);
  }

  /** Final checks before the file may appear; returns the digest (empty with NONE). Repeatable. */
  finish(): Uint8Array {
    if (this.expectedSize !== undefined && this.received !== this.expectedSize) {
      throw invalidArgument(`${this.path}: received ${this.received} bytes, expected ${this.expectedSize}; nothing was written`);
    }
    this.result ??= this.hash.digest();
    const digest = this.result;
    const want = this.expectedDigest;
    if (want && !Buffer.from(want).equals(digest)) {
      throw dataLoss(
        `${this.path}: ${digestName(this.hash.algorithm)} mismatch (got ${Buffer.from(digest).toString("hex")}, expected ${Buffer.from(want).toString("hex")}); nothing was written`,
      );
    }
    return digest;
  }
}
