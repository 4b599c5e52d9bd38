import { describe, expect, it } from "vitest";
import { toConnectError } from "../../errors.js";
import { ExecRunner, errnoFromStderr, pathArg } from "./exec-runner.js";

const runner = new ExecRunner({ description: "pod ns/p container c", url: () => "wss://unused", options: async () => ({}) });
const result = (o: Partial<{ exitCode: number; message: string; stderr: string; notFound: boolean }>) => ({
  exitCode: 1,
  message: "",
  stderr: "",
  notFound: false,
  ...o,
});

describe("ExecRunner.check", () => {
  it("maps busybox and coreutils stderr to the errno the other ContainerFs throws", () => {
    const cases: [string, string][] = [
      ["stat: can't stat '/nope': No such file or directory", "NOT_FOUND"],
      ["mkdir: can't create directory '/x': File exists", "ALREADY_EXISTS"],
      ["rmdir: '/d': Directory not empty", "FAILED_PRECONDITION"],
      ["rm: can't remove '/etc/x': Permission denied", "PERMISSION_DENIED"],
      ["dd: error writing '/f': No space left on device", "RESOURCE_EXHAUSTED"],
    ];
    for (const [stderr, code] of cases) {
      let err: unknown;
      try {
        runner.check(result({ stderr }), "tool", "test");
      } catch (e) {
        err = e;
      }
      expect(toConnectError(err, "/p").code, stderr).toBe(
        { NOT_FOUND: 5, ALREADY_EXISTS: 6, FAILED_PRECONDITION: 9, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8 }[code],
      );
    }
  });

  it("a missing tool is FAILED_PRECONDITION naming it, and remembered for the container", async () => {
    expect(() =>
      runner.check(result({ exitCode: -1, notFound: true, message: 'exec: "tar": executable file not found in $PATH' }), "tar", "directory download"),
    ).toThrow("the image has no tar: directory download needs tar in the container (pod ns/p container c)");
    // no exec is attempted the next time (the dialer above could not connect anywhere)
    await expect(runner.start(["tar", "-c"], { purpose: "directory download" })).rejects.toThrow(/the image has no tar/);
  });

  it("success throws nothing; an unknown failure names the tool and its stderr", () => {
    expect(() => runner.check(result({ exitCode: 0 }), "x", "y")).not.toThrow();
    expect(() => runner.check(result({ stderr: "weird\nmore" }), "mv", "rename")).toThrow("mv in pod ns/p container c failed: weird");
    expect(errnoFromStderr("fine")).toBeUndefined();
  });
});

describe("pathArg", () => {
  it("gives UTF-8 paths as strings and other names as their exact bytes", () => {
    expect(pathArg("/a/café")).toBe("/a/café");
    expect(pathArg("/a/\\xff")).toEqual(Buffer.from([0x2f, 0x61, 0x2f, 0xff]));
    expect(pathArg("/a/b\\\\c")).toBe("/a/b\\c");
  });
});
