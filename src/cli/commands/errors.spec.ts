import { describe, expect, it } from "vitest";
import { Code, PodfilesError } from "../../client/errors.js";
import { exitCodeFor, formatError, UsageError } from "./errors.js";

describe("the one line an error prints", () => {
  it("restates the server's hints with the command's flags, or drops them", () => {
    const exists = new PodfilesError("/a: already exists (ask for overwrite to replace it)", Code.AlreadyExists);
    expect(formatError(exists, { overwrite: "use -f to replace it" })).toBe("ALREADY_EXISTS: /a: already exists (use -f to replace it)");
    expect(formatError(exists)).toBe("ALREADY_EXISTS: /a: already exists");
    const full = new PodfilesError("/d: directory not empty (set recursive to remove it)", Code.FailedPrecondition);
    expect(formatError(full, { recursive: "use -r to remove it" })).toBe("FAILED_PRECONDITION: /d: directory not empty (use -r to remove it)");
  });

  it("usage errors exit 2, the rest 1", () => {
    expect(exitCodeFor(new UsageError("x"))).toBe(2);
    expect(exitCodeFor(new PodfilesError("x", Code.NotFound))).toBe(1);
  });
});
