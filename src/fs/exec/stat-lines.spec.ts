import { describe, expect, it } from "vitest";
import { entryFromRecord, parseStatRecords } from "./stat-lines.js";

const names = { user: (u: number) => (u === 0 ? "root" : ""), group: () => "" };

describe("parseStatRecords", () => {
  it("reads names with spaces, newlines, leading dashes, non-ASCII and non-UTF-8 bytes exactly", () => {
    const out = Buffer.concat([
      Buffer.from("81a4 0 0 1 1796039923 1 /t/a\nb//\n"),
      Buffer.from("81a4 0 0 0 1796039923 1 /t/-x//\n"),
      Buffer.from("41ed 1000 1000 4096 1796039923 2 /t/sp ace 1 2 3 4 5 6//\n"),
      Buffer.from("81a4 0 0 0 1796039923 1 /t/caf\u00e9//\n"),
      Buffer.concat([Buffer.from("81a4 0 0 0 1796039923 1 /t/"), Buffer.from([0xff, 0x0a]), Buffer.from("//\n")]),
    ]);
    const { records, used } = parseStatRecords(out);
    expect(used).toBe(out.length);
    const entries = records.map((r) => entryFromRecord(r, names));
    expect(entries.map((e) => e.name)).toEqual(["a\nb", "-x", "sp ace 1 2 3 4 5 6", "café", "\\xff\n"]);
    expect(entries[0]).toMatchObject({ type: "regular", size: 1n, mode: 0o100644, user: "root", mtimeMs: 1796039923000, nlink: 1 });
    expect(entries[2]).toMatchObject({ type: "directory", uid: 1000 });
  });

  it("keeps an incomplete record for the next chunk", () => {
    const whole = Buffer.from("81a4 0 0 1 1 1 /a//\n81a4 0 0 1 1 1 /b");
    const { records, used } = parseStatRecords(whole);
    expect(records).toHaveLength(1);
    expect(whole.subarray(used).toString()).toBe("81a4 0 0 1 1 1 /b");
  });

  it("refuses output that is no stat record", () => {
    expect(() => parseStatRecords(Buffer.from("stat: bad 1 2 3 4 5 /a//\n"))).toThrow(/unexpected stat output/);
  });
});
