// Issue #16: the caller chooses the digest (SHA-256, the default; CRC-32; none) on Download, the
// streaming Upload and the chunked upload, over the fast paths (gRPC through
// src/server/fast-path) and connect-node's own path (Connect JSON, Connect over HTTP/2 binary, a
// server without fast paths). A client that sends no algorithm (every client before #16) gets
// SHA-256 in `sha256` exactly as before; a mismatch leaves nothing; a digest of the wrong length
// or an unknown algorithm is INVALID_ARGUMENT.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DigestAlgorithm } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { downloadAll, hex, random, uploadAll, type FileClient } from "../support/files.js";
import { codeAndMessage } from "../support/status.js";

const MiB = 1024 * 1024;
const content = random(2 * MiB + 13);

let fast: TestServer;
let plain: TestServer;
beforeAll(async () => {
  fast = await startTestServer();
  plain = await startTestServer({ root: fast.root, fastPaths: false });
  writeFileSync(join(fast.root, "data.bin"), content);
});
afterAll(async () => {
  await plain.close();
  await fast.close();
});

const c = () => fast.container;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const crc = (b: Uint8Array) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(b));
  return out.toString("hex");
};
const leftovers = () => readdirSync(fast.root).filter((n) => n.includes(".podfiles-"));

/** What the server must report for each algorithm asked for (UNSPECIFIED: what old clients send). */
const cases = [
  { name: "unspecified (old clients)", asked: DigestAlgorithm.UNSPECIFIED, used: DigestAlgorithm.SHA256, digest: sha, sha256: true },
  { name: "SHA-256", asked: DigestAlgorithm.SHA256, used: DigestAlgorithm.SHA256, digest: sha, sha256: true },
  { name: "CRC-32", asked: DigestAlgorithm.CRC32, used: DigestAlgorithm.CRC32, digest: crc, sha256: false },
  { name: "none", asked: DigestAlgorithm.NONE, used: DigestAlgorithm.NONE, digest: () => "", sha256: false },
];

/** The paths a call can take: the fast path (gRPC), and connect-node's (Connect JSON; a server without fast paths). */
const paths: { name: string; client: () => FileClient }[] = [
  { name: "fast path (gRPC)", client: () => fast.clients.grpc },
  { name: "connect-node (Connect JSON)", client: () => fast.clients.connectJson },
  { name: "connect-node (gRPC, fast paths off)", client: () => plain.clients.grpc },
];

describe.each(paths)("Download, $name", ({ client }) => {
  it.each(cases)("$name: the header and trailer name the algorithm used and carry its digest", async ({ asked, used, digest, sha256 }) => {
    const got = await downloadAll(client(), c(), "/data.bin", { digestAlgorithm: asked });
    expect(Buffer.compare(got.data, content)).toBe(0);
    expect(got.header?.digestAlgorithm).toBe(used);
    expect(got.trailer?.digestAlgorithm).toBe(used);
    expect(hex(got.trailer?.digest)).toBe(digest(content));
    expect(hex(got.trailer?.sha256)).toBe(sha256 ? sha(content) : "");
  });

  it("a range is digested over the bytes sent", async () => {
    const got = await downloadAll(client(), c(), "/data.bin", { digestAlgorithm: DigestAlgorithm.CRC32, offset: 5n, length: 1000n });
    expect(hex(got.trailer?.digest)).toBe(crc(content.subarray(5, 1005)));
  });

  it("an unknown algorithm is INVALID_ARGUMENT naming it", async () => {
    const [code, message] = await codeAndMessage(downloadAll(client(), c(), "/data.bin", { digestAlgorithm: 9 }));
    expect(code).toBe(Code.InvalidArgument);
    expect(message).toMatch(/digest_algorithm 9/);
  });
});

const uploadPaths: { name: string; client: () => FileClient }[] = [
  { name: "fast path (gRPC)", client: () => fast.clients.grpc },
  { name: "connect-node (Connect over HTTP/2)", client: () => fast.clients.connectH2 },
];

describe.each(uploadPaths)("Upload, $name", ({ name: pathName, client }) => {
  const target = (alg: string) => `/up-${pathName.replace(/\W+/g, "")}-${alg.replace(/\W+/g, "")}.bin`;

  it.each(cases)("$name: the response names the algorithm, its digest is checked against expected_digest", async ({ name, asked, used, digest, sha256 }) => {
    const expectedDigest = Buffer.from(digest(content), "hex");
    const res = await uploadAll(client(), c(), target(name), content, { digestAlgorithm: asked, expectedDigest, expectedSize: BigInt(content.length) });
    expect(res.digestAlgorithm).toBe(used);
    expect(hex(res.digest)).toBe(digest(content));
    expect(hex(res.sha256)).toBe(sha256 ? sha(content) : "");
    expect(existsSync(join(fast.root, target(name).slice(1)))).toBe(true);
  });

  it.each(cases.filter((k) => k.used !== DigestAlgorithm.NONE))(
    "$name: a mismatching expected_digest is DATA_LOSS and leaves nothing",
    async ({ name, asked, digest }) => {
      const wrong = Buffer.from(digest(content), "hex");
      wrong[0] ^= 1;
      const path = `${target(name)}.bad`;
      const [code, message] = await codeAndMessage(uploadAll(client(), c(), path, content, { digestAlgorithm: asked, expectedDigest: wrong }));
      expect(code).toBe(Code.DataLoss);
      expect(message).toMatch(asked === DigestAlgorithm.CRC32 ? /CRC-32 mismatch/ : /SHA-256 mismatch/);
      expect(existsSync(join(fast.root, path.slice(1)))).toBe(false);
      expect(leftovers()).toEqual([]);
    },
  );

  it.each([
    { alg: DigestAlgorithm.SHA256, bytes: 4, want: /expected_digest must be 32 bytes for SHA-256, got 4/ },
    { alg: DigestAlgorithm.CRC32, bytes: 32, want: /expected_digest must be 4 bytes for CRC-32, got 32/ },
    { alg: DigestAlgorithm.NONE, bytes: 4, want: /expected_digest must be empty with digest_algorithm NONE/ },
  ])("an expected_digest of the wrong length ($bytes bytes) is INVALID_ARGUMENT and leaves nothing", async ({ alg, bytes, want }) => {
    const path = `${target(String(alg))}.len`;
    const [code, message] = await codeAndMessage(uploadAll(client(), c(), path, content, { digestAlgorithm: alg, expectedDigest: Buffer.alloc(bytes) }));
    expect(code).toBe(Code.InvalidArgument);
    expect(message).toMatch(want);
    expect(existsSync(join(fast.root, path.slice(1)))).toBe(false);
  });

  it("expected_sha256 keeps working as before (old clients), and is refused with another algorithm", async () => {
    const ok = await uploadAll(client(), c(), `${target("old")}`, content, { expectedSha256: Buffer.from(sha(content), "hex") });
    expect(hex(ok.sha256)).toBe(sha(content));
    expect(ok.digestAlgorithm).toBe(DigestAlgorithm.SHA256);
    const wrong = Buffer.from(sha(content), "hex");
    wrong[31] ^= 1;
    const [code] = await codeAndMessage(uploadAll(client(), c(), `${target("old")}.bad`, content, { expectedSha256: wrong }));
    expect(code).toBe(Code.DataLoss);
    const [code2, message2] = await codeAndMessage(
      uploadAll(client(), c(), `${target("old")}.crc`, content, { expectedSha256: Buffer.from(sha(content), "hex"), digestAlgorithm: DigestAlgorithm.CRC32 }),
    );
    expect(code2).toBe(Code.InvalidArgument);
    expect(message2).toMatch(/expected_sha256 needs digest_algorithm SHA-256/);
    expect(existsSync(join(fast.root, `${target("old")}.bad`.slice(1)))).toBe(false);
  });
});

describe("chunked upload", () => {
  const json = () => fast.clients.connectJson;
  async function chunked(path: string, options: Record<string, unknown>) {
    const begin = await json().beginUpload({ container: c(), path, options });
    for (let at = 0; at < content.length; at += MiB) {
      await json().writeUploadChunk({ container: c(), path, uploadId: begin.uploadId, offset: BigInt(at), data: content.subarray(at, at + MiB) });
    }
    return json().commitUpload({ container: c(), path, uploadId: begin.uploadId });
  }

  it.each(cases)("$name: CommitUpload names the algorithm and carries its digest", async ({ name, asked, used, digest, sha256 }) => {
    const path = `/chunked-${name.replace(/\W+/g, "")}.bin`;
    const res = await chunked(path, { digestAlgorithm: asked, expectedDigest: Buffer.from(digest(content), "hex") });
    expect(res.digestAlgorithm).toBe(used);
    expect(hex(res.digest)).toBe(digest(content));
    expect(hex(res.sha256)).toBe(sha256 ? sha(content) : "");
  });

  it("a CRC-32 mismatch at commit is DATA_LOSS and leaves nothing; a wrong length is refused at BeginUpload", async () => {
    const wrong = Buffer.from(crc(content), "hex");
    wrong[3] ^= 1;
    const [code, message] = await codeAndMessage(chunked("/chunked-bad.bin", { digestAlgorithm: DigestAlgorithm.CRC32, expectedDigest: wrong }));
    expect(code).toBe(Code.DataLoss);
    expect(message).toMatch(/CRC-32 mismatch/);
    expect(existsSync(join(fast.root, "chunked-bad.bin"))).toBe(false);
    const [code2] = await codeAndMessage(
      json().beginUpload({ container: c(), path: "/chunked-len.bin", options: { digestAlgorithm: DigestAlgorithm.CRC32, expectedDigest: Buffer.alloc(3) } }),
    );
    expect(code2).toBe(Code.InvalidArgument);
    expect(leftovers()).toEqual([]);
  });
});
