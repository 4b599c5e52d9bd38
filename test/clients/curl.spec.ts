// curl speaking the Connect protocol by hand: unary JSON, enveloped
// streaming JSON, over HTTP/1.1 and h2c (prior knowledge), plus gRPC-Web.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { HELLO, run, seedRoot, sha256 } from "./support.js";

const container = { namespace: "local", pod: "local", container: "local" };
const service = "podfiles.v1.FileService";

/** One length-prefixed message: flag byte, 4-byte big-endian length, payload. */
function envelope(payload: Buffer, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

function unenvelope(body: Buffer): { flags: number; payload: Buffer }[] {
  const out = [];
  for (let i = 0; i < body.length; ) {
    if (body.length - i < 5) throw new Error(`truncated envelope at ${i} of ${body.length}`);
    const length = body.readUInt32BE(i + 1);
    out.push({ flags: body[i], payload: body.subarray(i + 5, i + 5 + length) });
    i += 5 + length;
  }
  return out;
}

describe("curl", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    seedRoot(server.root);
  });
  afterAll(() => server?.close());

  /** POSTs body to a method; returns the response body and what -w reports (HTTP version, status, content type). */
  async function post(http: "1.1" | "2", method: string, contentType: string, body: Buffer | string, headers: string[] = []) {
    const args = [
      "--silent",
      "--show-error",
      "--max-time",
      "30",
      http === "2" ? "--http2-prior-knowledge" : "--http1.1",
      "-X",
      "POST",
      "-H",
      `Content-Type: ${contentType}`,
      ...headers.flatMap((h) => ["-H", h]),
      "--data-binary",
      "@-",
      "--write-out",
      "%{stderr}%{http_version} %{http_code} %{content_type}",
      `${server.url}/${service}/${method}`,
    ];
    const res = await run("curl", args, { input: body, timeoutMs: 40_000 });
    const [version, status, type] = res.stderr.trim().split(" ");
    return { body: res.stdout, version, status: Number(status), type };
  }

  for (const http of ["1.1", "2"] as const) {
    describe(`HTTP/${http}`, () => {
      it("Stat: unary Connect JSON", async () => {
        const res = await post(http, "Stat", "application/json", JSON.stringify({ container, path: "/seed/hello.txt" }), ["Connect-Protocol-Version: 1"]);
        expect(res).toMatchObject({ version: http, status: 200, type: "application/json" });
        const { entry } = JSON.parse(res.body.toString());
        expect(entry).toMatchObject({ name: "hello.txt", path: "/seed/hello.txt", type: "FILE_TYPE_REGULAR", size: String(HELLO.length) });
        expect(entry.modeText).toMatch(/^-rw/);
      });

      it("Stat of a missing path: Connect error not_found (HTTP 404)", async () => {
        const res = await post(http, "Stat", "application/json", JSON.stringify({ container, path: "/no/such" }), ["Connect-Protocol-Version: 1"]);
        expect(res).toMatchObject({ version: http, status: 404, type: "application/json" });
        const err = JSON.parse(res.body.toString());
        expect(err.code).toBe("not_found");
        expect(err.message).toMatch(/no such file/i);
      });

      it("ListFiles: enveloped Connect JSON stream with end-of-stream message", async () => {
        const req = envelope(Buffer.from(JSON.stringify({ container, path: "/seed", pageSize: 2 })));
        const res = await post(http, "ListFiles", "application/connect+json", req);
        expect(res).toMatchObject({ version: http, status: 200, type: "application/connect+json" });
        const frames = unenvelope(res.body);
        const end = frames.at(-1)!;
        expect(end.flags).toBe(0x02);
        expect(JSON.parse(end.payload.toString()).error).toBeUndefined();
        const pages = frames.slice(0, -1);
        expect(pages.every((f) => f.flags === 0)).toBe(true);
        expect(pages.length).toBe(2); // three entries, two per page
        const names = pages.flatMap((f) => JSON.parse(f.payload.toString()).entries.map((e: { name: string }) => e.name));
        expect(names.sort()).toEqual(["hello.txt", "random.bin", "sub"]);
      });

      it("ListFiles of a missing path: the error is in the end-of-stream message", async () => {
        const req = envelope(Buffer.from(JSON.stringify({ container, path: "/no/such" })));
        const res = await post(http, "ListFiles", "application/connect+json", req);
        expect(res.status).toBe(200);
        const frames = unenvelope(res.body);
        expect(frames.map((f) => f.flags)).toEqual([0x02]);
        expect(JSON.parse(frames[0].payload.toString()).error.code).toBe("not_found");
      });

      it("Download over gRPC-Web JSON: data frames then a trailer frame", async () => {
        const req = envelope(Buffer.from(JSON.stringify({ container, path: "/seed/hello.txt" })));
        const res = await post(http, "Download", "application/grpc-web+json", req, ["X-Grpc-Web: 1"]);
        expect(res).toMatchObject({ status: 200, type: "application/grpc-web+json" });
        const frames = unenvelope(res.body);
        const trailer = frames.at(-1)!;
        expect(trailer.flags).toBe(0x80);
        expect(trailer.payload.toString()).toMatch(/grpc-status: ?0\r\n/);
        const msgs = frames.slice(0, -1).map((f) => JSON.parse(f.payload.toString()));
        expect(msgs[0].header.length).toBe(String(HELLO.length));
        expect(Buffer.from(msgs[1].data, "base64").toString()).toBe(HELLO);
        expect(Buffer.from(msgs[2].trailer.sha256, "base64").toString("hex")).toBe(sha256(Buffer.from(HELLO)));
      });
    });
  }

  it("a refused Upload over HTTP/1.1 does not stall the next request on the keep-alive connection", async () => {
    // Connect client stream: a header, then 4 MiB the server never reads (hello.txt exists).
    const data = envelope(Buffer.from(JSON.stringify({ data: randomBytes(4 << 20).toString("base64") })));
    const upload = Buffer.concat([envelope(Buffer.from(JSON.stringify({ header: { container, path: "/seed/hello.txt" } }))), data]);
    const url = (m: string) => `${server.url}/${service}/${m}`;
    const each = ["--write-out", "%{stderr}%{http_code} %{num_connects}\n", "-o", "/dev/null"];
    const res = await run(
      "curl",
      [
        "--silent",
        "--show-error",
        "--http1.1",
        "--max-time",
        "15",
        "-H",
        "Content-Type: application/connect+json",
        "--data-binary",
        "@-",
        ...each,
        url("Upload"),
        "--next",
        "--http1.1",
        "--max-time",
        "15",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        JSON.stringify({ container, path: "/seed" }),
        ...each,
        url("Stat"),
      ],
      { input: upload, timeoutMs: 40_000 },
    );
    // Both answered 200, and the second reused the first's connection (0 new connects).
    expect(res.stderr.trim().split("\n")).toEqual(["200 1", "200 0"]);
  });
});
