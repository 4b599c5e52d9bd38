import { describe, expect, it } from "vitest";
import { count, humanSize, parseSize, parseTime } from "./units.js";

describe("units", () => {
  it("parses sizes in powers of 1024", () => {
    expect(parseSize("1500", "--min-size")).toBe(1500n);
    expect(parseSize("10k", "--min-size")).toBe(10240n);
    expect(parseSize("1.5M", "--min-size")).toBe(1572864n);
    expect(parseSize("2GiB", "--min-size")).toBe(2147483648n);
    expect(() => parseSize("ten", "--min-size")).toThrow(/--min-size ten: not a size/);
  });

  it("parses ages and dates", () => {
    expect(parseTime("2h", "--newer", 10_000_000)).toBe(10_000_000 - 7_200_000);
    expect(parseTime("2026-01-01T00:00:00Z", "--newer")).toBe(Date.UTC(2026, 0, 1));
    expect(() => parseTime("soon", "--older")).toThrow(/--older soon/);
  });

  it("prints sizes as du -h does", () => {
    expect(humanSize(0n)).toBe("0");
    expect(humanSize(512n)).toBe("512");
    expect(humanSize(4096n)).toBe("4.0K");
    expect(humanSize(4097n)).toBe("4.1K");
    expect(humanSize(1_300_000n)).toBe("1.3M");
    expect(humanSize(50n * 1024n * 1024n)).toBe("50M");
    expect(humanSize(1024n * 1024n - 1n)).toBe("1.0M");
  });

  it("counts", () => {
    expect(count("3", "-d")).toBe(3);
    expect(count(undefined, "-d", 7)).toBe(7);
    expect(() => count("-1", "-d")).toThrow(/not a count/);
  });
});
