// Issue #10, finding 7: a tar upload sets mode and owner only on the entries it created. `./` and
// directories that already existed keep theirs (an entry `./` with mode 0777 and uid 4242 made the
// container's `/` world-writable and someone else's).
import { chownSync, chmodSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import tar from "tar-stream";
import { ArchiveFormat, OverwritePolicy } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { uploadAll } from "../support/files.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

/** What `pack.entry` takes: a name, the rest optional (tar-stream does not export its HeaderArgument). */
type Member = { header: Partial<tar.Header> & Pick<tar.Header, "name">; body?: string };

async function tarOf(members: Member[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const m of members) {
    if (m.body === undefined) pack.entry(m.header);
    else pack.entry(m.header, m.body);
  }
  pack.finalize();
  const parts: Buffer[] = [];
  for await (const ch of pack as AsyncIterable<Buffer>) parts.push(ch);
  return Buffer.concat(parts);
}

const stranger = { uid: 4242, gid: 4242 };
const modeOf = (p: string) => statSync(join(server.root, p)).mode & 0o7777;
const ownerOf = (p: string) => {
  const st = statSync(join(server.root, p));
  return { uid: st.uid, gid: st.gid };
};

describe("tar extraction and directories that already existed", () => {
  it("keeps the mode and owner of `./` and of existing directories; sets them on what it created", async () => {
    chmodSync(server.root, 0o755);
    chownSync(server.root, 0, 0);
    mkdirSync(join(server.root, "etc"), { mode: 0o755 });
    chmodSync(join(server.root, "etc"), 0o755);
    const archive = await tarOf([
      { header: { name: "./", type: "directory", mode: 0o777, ...stranger } },
      { header: { name: "etc/", type: "directory", mode: 0o777, ...stranger } },
      { header: { name: "etc/app.conf", mode: 0o640, ...stranger }, body: "conf" },
      { header: { name: "fresh/", type: "directory", mode: 0o750, ...stranger } },
      // a file before its directory's entry: the directory is still one this extraction created
      { header: { name: "implicit/deep/f.txt", mode: 0o600, ...stranger }, body: "f" },
      { header: { name: "implicit/", type: "directory", mode: 0o700, ...stranger } },
    ]);
    const r = await uploadAll(server.clients.grpc, server.container, "/", archive, { format: ArchiveFormat.TAR, overwrite: OverwritePolicy.OVERWRITE });
    expect(r.entriesExtracted).toBe(6);

    expect(modeOf(".")).toBe(0o755);
    expect(ownerOf(".")).toEqual({ uid: 0, gid: 0 });
    expect(modeOf("etc")).toBe(0o755);
    expect(ownerOf("etc")).toEqual({ uid: 0, gid: 0 });

    expect(modeOf("etc/app.conf")).toBe(0o640);
    expect(ownerOf("etc/app.conf")).toEqual(stranger);
    expect(modeOf("fresh")).toBe(0o750);
    expect(ownerOf("fresh")).toEqual(stranger);
    expect(modeOf("implicit")).toBe(0o700);
    expect(ownerOf("implicit")).toEqual(stranger);
  });

  it("keeps the mode of the target directory itself when extracting into a subdirectory", async () => {
    mkdirSync(join(server.root, "target"), { mode: 0o711 });
    chmodSync(join(server.root, "target"), 0o711);
    const archive = await tarOf([
      { header: { name: ".", type: "directory", mode: 0o777, ...stranger } },
      { header: { name: "a.txt", mode: 0o644 }, body: "a" },
    ]);
    await uploadAll(server.clients.grpc, server.container, "/target", archive, { format: ArchiveFormat.TAR });
    expect(modeOf("target")).toBe(0o711);
    expect(ownerOf("target")).toEqual({ uid: 0, gid: 0 });
  });
});
