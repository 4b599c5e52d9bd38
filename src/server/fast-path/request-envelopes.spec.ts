import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { EnvelopeSplitter } from "./request-envelopes.js";

const env = (body: Uint8Array, flags = 0) => {
  const out = Buffer.alloc(5 + body.length);
  out[0] = flags;
  out.writeUInt32BE(body.length, 1);
  out.set(body, 5);
  return out;
};
const messages = [randomBytes(300), Buffer.alloc(0), randomBytes(1), randomBytes(70_000)];
const body = Buffer.concat(messages.map((m) => env(m)));

describe("EnvelopeSplitter", () => {
  it("gives back every message whatever the chunking (every split point, and byte by byte)", () => {
    const check = (chunks: Uint8Array[]) => {
      const s = new EnvelopeSplitter(1 << 20);
      const got = chunks.flatMap((c) => s.push(c));
      s.finish();
      expect(got.map((m) => Buffer.from(m).toString("hex"))).toEqual(messages.map((m) => m.toString("hex")));
    };
    for (let cut = 0; cut <= body.length; cut += 97) check([body.subarray(0, cut), body.subarray(cut)]);
    check([...body.subarray(0, 400)].map((b) => Uint8Array.of(b)).concat([body.subarray(400)]));
    check([body]);
  });

  it("hands out views of the chunk, not copies, for a message inside one chunk", () => {
    const s = new EnvelopeSplitter(1 << 20);
    const [first] = s.push(body);
    expect(first.buffer).toBe(body.buffer);
  });

  it("refuses a compressed flag, a message over the limit, and a body cut inside an envelope", () => {
    const codeOf = (fn: () => void) => {
      try {
        fn();
        return "ok";
      } catch (e) {
        return Code[ConnectError.from(e).code];
      }
    };
    expect(codeOf(() => new EnvelopeSplitter(100).push(env(randomBytes(10), 1)))).toBe("Internal");
    expect(codeOf(() => new EnvelopeSplitter(100).push(env(randomBytes(101)).subarray(0, 5)))).toBe("ResourceExhausted");
    const s = new EnvelopeSplitter(100);
    s.push(env(randomBytes(50)).subarray(0, 30));
    expect(codeOf(() => s.finish())).toBe("InvalidArgument");
    const h = new EnvelopeSplitter(100);
    h.push(Uint8Array.of(0, 0));
    expect(codeOf(() => h.finish())).toBe("InvalidArgument");
  });
});
