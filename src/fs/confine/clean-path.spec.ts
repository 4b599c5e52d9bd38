import { describe, expect, it } from "vitest";
import { cleanPath, pathComponents } from "./clean-path.js";
import { PathError } from "./errors.js";

describe("cleanPath", () => {
  it.each([
    ["", "/"],
    ["/", "/"],
    [".", "/"],
    ["..", "/"],
    ["a", "/a"],
    ["/a/b", "/a/b"],
    ["a//b/", "/a/b"],
    ["./a/./b/.", "/a/b"],
    ["/a/../b", "/b"],
    ["/../../outside/secret.txt", "/outside/secret.txt"],
    ["a/b/../../../../c", "/c"],
    ["/a/b/..", "/a"],
    ["...", "/..."],
    ["a\\..\\b", "/a\\..\\b"],
    ["/é/ü", "/é/ü"],
  ])("%j -> %j", (input, want) => {
    expect(cleanPath(input)).toBe(want);
  });

  it("splits into components without . or ..", () => {
    expect(pathComponents("/x/./y/../z/")).toEqual(["x", "z"]);
    expect(pathComponents("/")).toEqual([]);
  });

  it.each([
    ["a NUL byte", "a\0b", "INVALID_PATH"],
    ["a NUL byte in a component that .. removes", "x\0/..", "INVALID_PATH"],
    ["a lone surrogate", "a\uD800b", "INVALID_PATH"],
    ["a path over 4096 bytes", "/" + "a/".repeat(2048), "PATH_TOO_LONG"],
    ["a multibyte path over 4096 bytes", "é".repeat(2049), "PATH_TOO_LONG"],
    ["a component over 255 bytes", "/ok/" + "x".repeat(256), "NAME_TOO_LONG"],
    ["a multibyte component over 255 bytes", "é".repeat(128), "NAME_TOO_LONG"],
    ["an over-long component that .. removes", "x".repeat(256) + "/..", "NAME_TOO_LONG"],
  ])("rejects %s", (_what, input, code) => {
    let err: unknown;
    try {
      cleanPath(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PathError);
    expect((err as PathError).code).toBe(code);
  });

  it("accepts the limits themselves", () => {
    expect(cleanPath("x".repeat(255))).toBe("/" + "x".repeat(255));
    const p = ("x".repeat(200) + "/").repeat(20) + "x".repeat(4096 - 201 * 20);
    expect(Buffer.byteLength(p)).toBe(4096);
    expect(() => cleanPath(p)).not.toThrow();
  });

  it("rejects a non-string", () => {
    expect(() => cleanPath(42 as unknown as string)).toThrow(PathError);
  });
});
