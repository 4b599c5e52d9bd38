import { describe, expect, it } from "vitest";
import { entryTypeOf, modeText } from "./mode-text.js";

describe("modeText", () => {
  it.each([
    [0o100644, "-rw-r--r--"],
    [0o040755, "drwxr-xr-x"],
    [0o041777, "drwxrwxrwt"],
    [0o041776, "drwxrwxrwT"],
    [0o120777, "lrwxrwxrwx"],
    [0o104755, "-rwsr-xr-x"],
    [0o102645, "-rw-r-Sr-x"],
    [0o010600, "prw-------"],
    [0o140755, "srwxr-xr-x"],
    [0o020620, "crw--w----"],
    [0o060660, "brw-rw----"],
  ])("renders %o as %s", (mode, text) => {
    expect(modeText(mode)).toBe(text);
  });
  it("classifies file types", () => {
    expect(entryTypeOf(0o100000)).toBe("regular");
    expect(entryTypeOf(0o040000)).toBe("directory");
    expect(entryTypeOf(0o120000)).toBe("symlink");
  });
});
