// A plain @grpc/grpc-js client built at run time by @grpc/proto-loader from
// proto/podfiles/v1/files.proto: no generated code of ours is involved.
import { randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server.js";
import { repoRoot, seedRoot, sha256 } from "./support.js";

type Msg = Record<string, any>;
type Callback = (err: grpc.ServiceError | null, res: Msg) => void;
interface FileServiceClient extends grpc.Client {
  [method: string]: any;
}

// google/protobuf/timestamp.proto is not in proto/: proto-loader (protobufjs)
// ships the well-known types and resolves that import itself.
const definition = protoLoader.loadSync("podfiles/v1/files.proto", {
  includeDirs: [join(repoRoot, "proto")],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const pkg = grpc.loadPackageDefinition(definition) as any;
const container = { namespace: "local", pod: "local", container: "local" };

describe("@grpc/grpc-js + @grpc/proto-loader", () => {
  let server: TestServer;
  let client: FileServiceClient;

  const unary = (method: string, req: Msg) =>
    new Promise<Msg>((resolve, reject) => client[method](req, ((err, res) => (err ? reject(err) : resolve(res))) as Callback));
  const serverStream = (method: string, req: Msg) =>
    new Promise<Msg[]>((resolve, reject) => {
      const msgs: Msg[] = [];
      client[method](req)
        .on("data", (m: Msg) => msgs.push(m))
        .on("error", reject)
        .on("end", () => resolve(msgs));
    });
  const upload = (path: string, options: Msg, data: Buffer, chunk = 1 << 20) =>
    new Promise<Msg>((resolve, reject) => {
      const call = client.Upload(((err, res) => (err ? reject(err) : resolve(res))) as Callback);
      call.write({ header: { container, path, options } });
      for (let i = 0; i < data.length; i += chunk) call.write({ data: data.subarray(i, i + chunk) });
      call.end();
    });
  const codeOf = (p: Promise<unknown>) =>
    p.then(
      () => "OK",
      (e: grpc.ServiceError) => grpc.status[e.code],
    );

  beforeAll(async () => {
    server = await startTestServer();
    seedRoot(server.root);
    client = new pkg.podfiles.v1.FileService(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), {
      "grpc-node.flow_control_window": 8 * 1024 * 1024,
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      "grpc.max_send_message_length": 16 * 1024 * 1024,
    });
  });
  afterAll(async () => {
    client?.close();
    await server?.close();
  });

  it("Stat", async () => {
    const { entry } = await unary("Stat", { container, path: "/seed/hello.txt" });
    expect(entry).toMatchObject({ name: "hello.txt", path: "/seed/hello.txt", type: "FILE_TYPE_REGULAR", size: "15" });
    expect(entry.mode_text).toMatch(/^-rw/);
    expect(Number(entry.modify_time.seconds)).toBeGreaterThan(1_600_000_000);
  });

  it("ListFiles streams pages", async () => {
    const msgs = await serverStream("ListFiles", { container, path: "/seed", page_size: 1 });
    expect(msgs.length).toBe(3);
    expect(msgs.flatMap((m) => m.entries.map((e: Msg) => e.name)).sort()).toEqual(["hello.txt", "random.bin", "sub"]);
  });

  it("Download of a random 5 MiB file, compared by SHA-256", async () => {
    const content = randomBytes(5 * 1024 * 1024);
    writeFileSync(join(server.root, "seed/five.bin"), content);
    const msgs = await serverStream("Download", { container, path: "/seed/five.bin" });
    expect(msgs[0].part).toBe("header");
    expect(msgs[0].header).toMatchObject({ format: "ARCHIVE_FORMAT_RAW", offset: "0", length: String(content.length) });
    const data = msgs.slice(1, -1);
    expect(data.every((m) => m.part === "data")).toBe(true);
    expect(data.length).toBe(5); // default 1 MiB chunks
    expect(sha256(Buffer.concat(data.map((m) => m.data)))).toBe(sha256(content));
    const { trailer } = msgs.at(-1)!;
    expect(Buffer.from(trailer.sha256).toString("hex")).toBe(sha256(content));
    expect(trailer.bytes_sent).toBe(String(content.length));
  });

  it("Upload client stream with expected size and SHA-256", async () => {
    const content = randomBytes(3 * 1024 * 1024 + 1);
    const digest = Buffer.from(sha256(content), "hex");
    const res = await upload("/up/deep/file.bin", { mode: 0o600, make_parents: true, expected_size: content.length, expected_sha256: digest }, content);
    expect(res.bytes_received).toBe(String(content.length));
    expect(Buffer.from(res.sha256).equals(digest)).toBe(true);
    expect(res.entry).toMatchObject({ path: "/up/deep/file.bin", size: String(content.length), mode_text: "-rw-------" });
    const onDisk = join(server.root, "up/deep/file.bin");
    expect(sha256(readFileSync(onDisk))).toBe(sha256(content));
    expect(statSync(onDisk).mode & 0o777).toBe(0o600);
  });

  it("MakeDirectory, Rename, Remove", async () => {
    expect((await unary("MakeDirectory", { container, path: "/js/a/b", parents: true })).entry.type).toBe("FILE_TYPE_DIRECTORY");
    await upload("/js/a/b/x.txt", {}, Buffer.from("x"));
    expect((await unary("Rename", { container, path: "/js/a/b/x.txt", new_path: "/js/y.txt" })).entry.path).toBe("/js/y.txt");
    expect(await codeOf(unary("Remove", { container, path: "/js/a" }))).toBe("FAILED_PRECONDITION");
    await unary("Remove", { container, path: "/js/a", recursive: true });
    expect(readFileSync(join(server.root, "js/y.txt"), "utf8")).toBe("x");
    expect(await codeOf(unary("Stat", { container, path: "/js/a" }))).toBe("NOT_FOUND");
  });

  it("error codes", async () => {
    expect(await codeOf(unary("Stat", { container, path: "/missing" }))).toBe("NOT_FOUND");
    expect(await codeOf(serverStream("Download", { container, path: "/missing" }))).toBe("NOT_FOUND");
    expect(await codeOf(serverStream("ListFiles", { container, path: "/missing" }))).toBe("NOT_FOUND");
    expect(await codeOf(unary("Stat", { container, path: "/seed/a\0b" }))).toBe("INVALID_ARGUMENT");
    expect(await codeOf(unary("Stat", { path: "/seed" }))).toBe("INVALID_ARGUMENT"); // no container
    expect(await codeOf(upload("/seed/hello.txt", {}, Buffer.from("no")))).toBe("ALREADY_EXISTS");
    expect(readFileSync(join(server.root, "seed/hello.txt"), "utf8")).toBe("hello podfiles\n");
    const wrong = Buffer.alloc(32, 1);
    expect(await codeOf(upload("/seed/bad.bin", { expected_sha256: wrong }, Buffer.from("data")))).toBe("DATA_LOSS");
    expect(await codeOf(unary("Stat", { container, path: "/seed/bad.bin" }))).toBe("NOT_FOUND");
    expect(await codeOf(unary("Rename", { container, path: "/seed/random.bin", new_path: "/seed/hello.txt" }))).toBe("ALREADY_EXISTS");
  });
});
