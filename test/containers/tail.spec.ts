/**
 * Tail -f, Find and DiskUsage on a REAL container (containerd from the harness, reached through
 * /proc/<pid>/root by the CRI resolver): a shell in the container writes a line every 100 ms,
 * rotates its log (mv + new file) and then truncates it (copytruncate); the follower sees both,
 * and inotify delivers the container's writes (lines arrive ~100 ms apart, not in the 1 s clumps
 * of the fallback poll). Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TailNotice } from "../../gen/ts/podfiles/v1/files_pb.js";
import { silentLogger } from "../../src/log.js";
import { CriPodResolver } from "../../src/resolve/cri-pod-resolver.js";
import { createServer, type RunningServer } from "../../src/server/server.js";
import { removePod, runPod, startContainerRuntime, type ContainerRuntime, type RunningPod } from "../harness/containers.js";
import { fileClients } from "../support/server.js";
import type { FileClient, Ref } from "./support/rpc.js";

// line i every 100 ms; after line 9: rotation; after line 19: copytruncate; then idle
const WRITER = [
  "/bin/sh",
  "-c",
  [
    "trap 'exit 0' TERM INT",
    "mkdir -p /var/log/app",
    "while [ ! -e /tmp/go ]; do sleep 0.05; done",
    "i=0",
    "while [ $i -lt 30 ]; do",
    "  echo line$i >> /var/log/app/app.log",
    "  [ $i = 9 ] && mv /var/log/app/app.log /var/log/app/app.log.1",
    "  [ $i = 19 ] && sleep 0.3 && cp /var/log/app/app.log /var/log/app/app.log.2 && : > /var/log/app/app.log",
    "  i=$((i+1)); sleep 0.1",
    "done",
    "sleep 2147483647 & wait",
  ].join("\n"),
];

describe("Tail -f on a real container", { timeout: 60_000 }, () => {
  let rt: ContainerRuntime;
  let pod: RunningPod;
  let resolver: CriPodResolver;
  let server: RunningServer;
  let client: FileClient;
  const ref: Ref = { namespace: "tools-ns", pod: "tailbox", container: "writer" };

  beforeAll(async () => {
    rt = await startContainerRuntime();
    pod = await runPod({ namespace: "tools-ns", name: "tailbox", containers: [{ name: "writer", command: WRITER }] });
    resolver = new CriPodResolver({ socketPath: rt.criSocket });
    server = await createServer({ resolver, logger: silentLogger }).listen(0, "127.0.0.1");
    client = fileClients(server.url).grpc;
  }, 600_000);

  afterAll(async () => {
    await server?.close();
    await resolver?.close();
    if (pod) await removePod(pod).catch(() => undefined);
    await rt?.stop();
  }, 120_000);

  it("follows the container's writes across a rotation and a copytruncate, event-driven", async () => {
    // the log exists before the writer starts (the follow begins on an empty file)
    const { UploadRequestSchema } = await import("../../gen/ts/podfiles/v1/files_pb.js");
    const { create } = await import("@bufbuild/protobuf");
    const put = async (path: string) =>
      client.upload(
        (async function* () {
          yield create(UploadRequestSchema, { part: { case: "header", value: { container: ref, path, options: { makeParents: true } } } });
        })(),
      );
    await put("/var/log/app/app.log");
    const abort = new AbortController();
    let text = "";
    const notices: TailNotice[] = [];
    const arrivals: Array<[string, number]> = [];
    const following = (async () => {
      for await (const res of client.tail({ container: ref, path: "/var/log/app/app.log", follow: true }, { signal: abort.signal })) {
        if (res.notice) notices.push(res.notice);
        const chunk = Buffer.from(res.data).toString();
        text += chunk;
        for (const l of chunk.split("\n").filter(Boolean)) arrivals.push([l, performance.now()]);
        if (text.includes("line29\n")) break;
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    await put("/tmp/go");
    await Promise.race([
      following,
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no line29 after 20 s; got ${JSON.stringify(text)}`)), 20_000)),
    ]);
    abort.abort();

    expect(notices).toEqual([TailNotice.ROTATED, TailNotice.TRUNCATED]);
    const lines = text.split("\n").filter(Boolean);
    // every line of the rotated file, then the new file's; a copytruncate may lose what was written
    // between the last read and the truncation (nothing here: the writer pauses 300 ms before it)
    expect(lines).toEqual(Array.from({ length: 30 }, (_, i) => `line${i}`));
    // inotify through /proc/<pid>/root: with only the 1 s safety poll, lines would arrive in clumps
    const gaps = arrivals.slice(1).map(([, t], i) => t - arrivals[i]![1]);
    const bigGaps = gaps.filter((g) => g > 600).length;
    expect(bigGaps).toBeLessThanOrEqual(1);
    console.log(`tail in a real container: ${lines.length} lines, gaps p50 ${gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!.toFixed(0)} ms`);
  });

  it("Find and DiskUsage on the container's /var/log", async () => {
    const found: string[] = [];
    for await (const res of client.find({ container: ref, path: "/var/log", nameGlob: "app.log*" })) found.push(...res.matches.map((m) => m.entry!.path));
    expect(found.sort()).toEqual(["/var/log/app/app.log", "/var/log/app/app.log.1", "/var/log/app/app.log.2"]);
    const totals = [];
    for await (const res of client.diskUsage({ container: ref, path: "/var/log", apparentSize: true })) totals.push(...res.entries);
    expect(totals.at(-1)).toMatchObject({ path: "/var/log", depth: 0 });
    expect(totals.at(-1)!.files).toBe(3n);
  });
});
