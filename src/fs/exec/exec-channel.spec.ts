import { describe, expect, it } from "vitest";
import { apiServerExecUrl, encodeArg, kubeletExecUrl, parseStatus } from "./exec-channel.js";

describe("exec URL", () => {
  it("sends each argument as its own command= parameter, every byte percent-encoded, nothing for a shell", () => {
    const url = new URL(
      apiServerExecUrl("https://10.0.0.1:6443/", "ns", "pod-1", "main", ["stat", "--", "/a b/-x;$(rm -rf /)&command=evil", Buffer.from([0x2f, 0xff])], false),
    );
    expect(url.protocol).toBe("wss:");
    expect(url.pathname).toBe("/api/v1/namespaces/ns/pods/pod-1/exec");
    expect(url.searchParams.getAll("command").slice(0, 3)).toEqual(["stat", "--", "/a b/-x;$(rm -rf /)&command=evil"]);
    expect(url.search).toContain("&command=%2F%FF");
    expect(url.searchParams.get("stdin")).toBe("false");
    expect(url.searchParams.get("container")).toBe("main");
  });

  it("the kubelet's own exec path and query names (input/output/error), argv as for the API server", () => {
    const url = new URL(kubeletExecUrl("https://10.234.0.2:10250", "n s", "pod-1", "main", ["cat", "--", "/a b&input=1"], false));
    expect(url.protocol).toBe("wss:");
    expect(url.host).toBe("10.234.0.2:10250");
    expect(url.pathname).toBe("/exec/n%20s/pod-1/main");
    expect(url.searchParams.getAll("command")).toEqual(["cat", "--", "/a b&input=1"]);
    expect(url.searchParams.getAll("input")).toEqual(["0"]);
    expect([url.searchParams.get("output"), url.searchParams.get("error")]).toEqual(["1", "1"]);
  });

  it("encodes only unreserved characters as themselves", () => {
    expect(encodeArg("a-Z_0.~")).toBe("a-Z_0.~");
    expect(encodeArg("é/ +")).toBe("%C3%A9%2F%20%2B");
  });
});

describe("status channel", () => {
  it("success", () => {
    expect(parseStatus('{"metadata":{},"status":"Success"}')).toEqual({ exitCode: 0, message: "", notFound: false });
  });

  it("a non-zero exit code, from the ExitCode cause", () => {
    const s =
      '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: command terminated with exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}';
    expect(parseStatus(s)).toMatchObject({ exitCode: 3, notFound: false });
  });

  it("an executable the image lacks (the message the API server sent for the pause image)", () => {
    const s = JSON.stringify({
      status: "Failure",
      reason: "InternalError",
      message:
        'Internal error occurred: error executing command in container: failed to exec in container: failed to start exec "84a3": OCI runtime exec failed: exec failed: unable to start container process: exec: "tar": executable file not found in $PATH: unknown',
    });
    expect(parseStatus(s)).toMatchObject({ exitCode: -1, notFound: true });
  });

  it("garbage is no success", () => {
    expect(parseStatus("not json")).toMatchObject({ exitCode: -1, notFound: false });
  });
});
