import { describe, expect, it } from "vitest";
import { idNames, parseIdFile } from "./id-names.js";

describe("parseIdFile", () => {
  it("maps ids to the first name, skipping comments and junk", () => {
    const map = parseIdFile("root:x:0:0:root:/root:/bin/sh\n# c\nbad\napp:x:1000:1000::/home/app:/bin/sh\ntoor:x:0:0::/:/bin/sh\nneg:x:-1:0\n");
    expect(map.get(0)).toBe("root");
    expect(map.get(1000)).toBe("app");
    expect(map.size).toBe(2);
  });
  it("returns empty names for unknown ids", () => {
    const names = idNames(new Map([[0, "root"]]), new Map());
    expect(names.user(0)).toBe("root");
    expect(names.user(7)).toBe("");
    expect(names.group(0)).toBe("");
  });
});
