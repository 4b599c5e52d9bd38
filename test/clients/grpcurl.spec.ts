// grpcurl, installed by the project at a pinned version, against a real
// server with no proto files: everything it knows comes from reflection.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { goTool, parseJsonSeq, run, seedRoot, sha256 } from "./support.js";

export const GRPCURL = "github.com/fullstorydev/grpcurl/cmd/grpcurl@v1.9.4";

describe("grpcurl (reflection only)", () => {
  let server: TestServer;
  let grpcurlBin: string;
  let addr: string;
  const container = { namespace: "local", pod: "local", container: "local" };
  const grpcurl = (args: string[], check = true) =>
    run(grpcurlBin, ["-plaintext", "-max-time", "30", "-max-msg-sz", String(16 << 20), ...args], { timeoutMs: 40_000, check });
  const call = async (method: string, body: object) =>
    parseJsonSeq((await grpcurl(["-d", JSON.stringify(body), addr, method])).stdout.toString()) as Record<string, any>[];

  beforeAll(async () => {
    grpcurlBin = await goTool("grpcurl", GRPCURL);
    server = await startTestServer();
    addr = `127.0.0.1:${server.port}`;
    seedRoot(server.root);
  }, 360_000);
  afterAll(() => server?.close());

  it("lists the services", async () => {
    const services = (await grpcurl([addr, "list"])).stdout.toString().trim().split("\n");
    expect(services).toEqual(
      expect.arrayContaining([
        "podfiles.v1.FileService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
      ]),
    );
    const methods = (await grpcurl([addr, "list", "podfiles.v1.FileService"])).stdout.toString();
    for (const m of ["ListFiles", "Stat", "Download", "Upload", "MakeDirectory", "Remove", "Rename"]) {
      expect(methods).toContain(`podfiles.v1.FileService.${m}\n`);
    }
  });

  it("describes the service and a message", async () => {
    const service = (await grpcurl([addr, "describe", "podfiles.v1.FileService"])).stdout.toString();
    expect(service).toContain("podfiles.v1.FileService is a service:");
    expect(service).toMatch(/rpc ListFiles \( \.podfiles\.v1\.ListFilesRequest \) returns \( stream \.podfiles\.v1\.ListFilesResponse \)/);
    expect(service).toMatch(/rpc Upload \( stream \.podfiles\.v1\.UploadRequest \) returns \( \.podfiles\.v1\.UploadResponse \)/);
    const entry = (await grpcurl([addr, "describe", "podfiles.v1.FileEntry"])).stdout.toString();
    expect(entry).toContain("podfiles.v1.FileEntry is a message:");
    expect(entry).toContain("string mode_text = 6;");
    expect(entry).toContain(".google.protobuf.Timestamp modify_time = 11;");
  });

  it("calls ListFiles", async () => {
    const msgs = await call("podfiles.v1.FileService/ListFiles", { container, path: "/seed", page_size: 2 });
    expect(msgs.length).toBe(2); // 3 entries in pages of 2
    const entries = msgs.flatMap((m) => m.entries);
    expect(entries.map((e) => e.name).sort()).toEqual(["hello.txt", "random.bin", "sub"]);
    const hello = entries.find((e) => e.name === "hello.txt");
    expect(hello).toMatchObject({ path: "/seed/hello.txt", type: "FILE_TYPE_REGULAR", size: "15" });
    expect(hello.modeText).toMatch(/^-rw/);
    expect(entries.find((e) => e.name === "sub").type).toBe("FILE_TYPE_DIRECTORY");
  });

  it("calls Download: header, base64 data, trailer with the SHA-256", async () => {
    const content = randomBytes(200 * 1024 + 3);
    writeFileSync(join(server.root, "seed/dl.bin"), content);
    const msgs = await call("podfiles.v1.FileService/Download", { container, path: "/seed/dl.bin", chunk_size: 65536 });
    expect(msgs[0].header).toMatchObject({ format: "ARCHIVE_FORMAT_RAW", length: String(content.length) });
    const data = Buffer.concat(msgs.slice(1, -1).map((m) => Buffer.from(m.data, "base64")));
    expect(msgs.length).toBe(2 + 4); // ceil(200 KiB / 64 KiB) data messages
    expect(sha256(data)).toBe(sha256(content));
    const trailer = msgs.at(-1)!.trailer;
    expect(Buffer.from(trailer.sha256, "base64").toString("hex")).toBe(sha256(content));
    expect(trailer.bytesSent).toBe(String(content.length));
  });

  it("reports NOT_FOUND with grpcurl's exit code", async () => {
    const res = await grpcurl(["-d", JSON.stringify({ container, path: "/nope" }), addr, "podfiles.v1.FileService/Stat"], false);
    expect(res.code).toBe(64 + 5); // grpcurl exits 64 + the status code
    expect(res.stderr).toContain("Code: NotFound");
  });

  it("checks health", async () => {
    expect(await call("grpc.health.v1.Health/Check", {})).toEqual([{ status: "SERVING" }]);
    expect(await call("grpc.health.v1.Health/Check", { service: "podfiles.v1.FileService" })).toEqual([{ status: "SERVING" }]);
  });
});
