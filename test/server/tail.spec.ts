// Tail against a real server on a temp dir: last lines, offsets, follow across appends, a
// rotation (rename + new file) and a copytruncate; a FIFO, a directory and a bad offset refused.
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, renameSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TailNotice, type TailRequest, type TailResponse } from "../../gen/ts/podfiles/v1/files_pb.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { until } from "../support/until.js";

let server: TestServer;
let logs: string;
beforeAll(async () => {
  server = await startTestServer();
  logs = join(server.root, "logs");
  mkdirSync(logs);
  writeFileSync(join(logs, "ten.log"), Array.from({ length: 30 }, (_, i) => `line ${i + 1}\n`).join(""));
  writeFileSync(join(logs, "no-final-newline.log"), "a\nb\nc");
  writeFileSync(join(logs, "big.log"), Array.from({ length: 50_000 }, (_, i) => `row ${i}\n`).join("")); // > 64 KiB: several backward reads
  execFileSync("mkfifo", [join(logs, "pipe")]);
  symlinkSync("/logs/ten.log", join(logs, "link.log"));
});
afterAll(() => server.close());

async function tailOnce(req: Omit<Partial<TailRequest>, "$typeName" | "$unknown">): Promise<string> {
  let out = "";
  for await (const res of server.clients.grpc.tail({ container: server.container, path: "/logs/ten.log", ...req }))
    out += Buffer.from(res.data).toString("utf8");
  return out;
}

/** A following Tail read in the background; `text` grows, `notices` lists what arrived. */
function follow(path: string, req: Omit<Partial<TailRequest>, "$typeName" | "$unknown"> = {}) {
  const abort = new AbortController();
  const state = { text: "", notices: [] as TailNotice[], messages: [] as TailResponse[], error: undefined as unknown };
  const done = (async () => {
    try {
      for await (const res of server.clients.grpc.tail({ container: server.container, path, follow: true, ...req }, { signal: abort.signal })) {
        state.messages.push(res);
        if (res.notice !== TailNotice.UNSPECIFIED) state.notices.push(res.notice);
        state.text += Buffer.from(res.data).toString("utf8");
      }
    } catch (err) {
      state.error = err;
    }
  })();
  const waitFor = (text: string) => until(`"${text}" in the tail`, async () => (state.text.includes(text) ? true : undefined), 5000, 20);
  return { state, waitFor, stop: async () => (abort.abort(), await done) };
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e) => Code[ConnectError.from(e).code],
  );

describe("Tail", () => {
  it("sends the last 10 lines by default, or the last N, or from an offset", async () => {
    expect(await tailOnce({})).toBe(Array.from({ length: 10 }, (_, i) => `line ${i + 21}\n`).join(""));
    expect(await tailOnce({ lines: 2 })).toBe("line 29\nline 30\n");
    expect(await tailOnce({ lines: 1000 })).toHaveLength(Array.from({ length: 30 }, (_, i) => `line ${i + 1}\n`).join("").length);
    expect(await tailOnce({ lines: 0 })).toBe("");
    expect(await tailOnce({ offset: 0n, lines: 1 })).toMatch(/^line 1\n/); // offset wins
    expect(await tailOnce({ path: "/logs/no-final-newline.log", lines: 2 })).toBe("b\nc");
    const big = await tailOnce({ path: "/logs/big.log", lines: 20_000 });
    expect(big.startsWith("row 30000\n")).toBe(true);
    expect(big.endsWith("row 49999\n")).toBe(true);
    expect(await tailOnce({ path: "/logs/link.log", lines: 1 })).toBe("line 30\n");
  });

  it("refuses a FIFO, a directory, a missing file and an offset past the end", async () => {
    expect(await codeOf(tailOnce({ path: "/logs/pipe", follow: true }))).toBe("FailedPrecondition");
    await expect(tailOnce({ path: "/logs/pipe" })).rejects.toThrow(/cannot tail a fifo/);
    expect(await codeOf(tailOnce({ path: "/logs" }))).toBe("FailedPrecondition");
    expect(await codeOf(tailOnce({ path: "/logs/nope" }))).toBe("NotFound");
    expect(await codeOf(tailOnce({ offset: 1_000_000n }))).toBe("OutOfRange");
  });

  it("follows appends, then a rotation (rename + new file) and a copytruncate", async () => {
    const file = join(logs, "app.log");
    writeFileSync(file, "first\n");
    const t = follow("/logs/app.log");
    await t.waitFor("first\n");
    appendFileSync(file, "second\n");
    await t.waitFor("second\n");

    // rotation: the old file gets one more line after the rename, then a new file appears
    renameSync(file, `${file}.1`);
    appendFileSync(`${file}.1`, "late-in-old\n");
    writeFileSync(file, "new-file-1\n");
    await t.waitFor("new-file-1\n");
    expect(t.state.notices).toEqual([TailNotice.ROTATED]);
    expect(t.state.text).toBe("first\nsecond\nlate-in-old\nnew-file-1\n");
    appendFileSync(file, "new-file-2\n");
    await t.waitFor("new-file-2\n");

    // copytruncate: copied away, truncated in place, written again from the start
    truncateSync(file, 0);
    await until("the truncation noticed", async () => (t.state.notices.length === 2 ? true : undefined), 5000, 20);
    appendFileSync(file, "after-truncate\n");
    await t.waitFor("after-truncate\n");
    expect(t.state.notices).toEqual([TailNotice.ROTATED, TailNotice.TRUNCATED]);
    const last = t.state.messages.at(-1)!;
    expect(last.offset).toBe(0n); // continues from the start of the truncated file
    await t.stop();
    expect(t.state.error).toBeDefined(); // ends when the caller cancels
    expect(ConnectError.from(t.state.error).code).toBe(Code.Canceled);
  });

  it("follows from the end with lines 0, and a file that is replaced while the path is missing for a while", async () => {
    const file = join(logs, "gap.log");
    writeFileSync(file, "old content\n");
    const t = follow("/logs/gap.log", { lines: 0 });
    await new Promise((r) => setTimeout(r, 100));
    renameSync(file, `${file}.old`);
    await new Promise((r) => setTimeout(r, 400)); // several polls with no file at the path
    writeFileSync(file, "back\n");
    await t.waitFor("back\n");
    expect(t.state.text).toBe("back\n");
    expect(t.state.notices).toEqual([TailNotice.ROTATED]);
    await t.stop();
  });

  it("sees an append within 100 ms (inotify), p50 over 20 appends", async () => {
    const file = join(logs, "fast.log");
    writeFileSync(file, "");
    const t = follow("/logs/fast.log");
    await new Promise((r) => setTimeout(r, 100));
    const took: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      appendFileSync(file, `n${i}\n`);
      await t.waitFor(`n${i}\n`);
      took.push(performance.now() - started);
    }
    took.sort((a, b) => a - b);
    expect(took[10]).toBeLessThan(100); // the 250 ms poll alone would put the median near 125 ms
    await t.stop();
  });
});
