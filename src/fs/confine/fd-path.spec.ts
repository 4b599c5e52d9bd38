import { describe, expect, it } from "vitest";
import { PathError } from "./errors.js";
import { fdPath } from "./fd-path.js";

describe("fdPath", () => {
  it("builds /proc/self/fd paths", () => {
    expect(fdPath(7, "name")).toBe("/proc/self/fd/7/name");
    expect(fdPath(7, "")).toBe("/proc/self/fd/7/");
    expect(fdPath(7)).toBe("/proc/self/fd/7/");
  });

  it.each(["..", ".", "a/b", "/", "a\0"])("rejects the name %j, which could leave the directory", (name) => {
    expect(() => fdPath(3, name)).toThrow(PathError);
  });

  it.each([-1, 1.5, NaN])("rejects the fd %s", (fd) => {
    expect(() => fdPath(fd, "x")).toThrow(PathError);
  });
});
