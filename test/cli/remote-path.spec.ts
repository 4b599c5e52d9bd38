import { afterEach, describe, expect, it } from "vitest";
import { isRemote, parseRemote } from "../../src/cli/commands/remote-path.js";
import { UsageError } from "../../src/cli/commands/errors.js";

describe("remote paths [namespace/]pod[/container]:path", () => {
  const saved = process.env.PODFILES_NAMESPACE;
  afterEach(() => {
    if (saved === undefined) delete process.env.PODFILES_NAMESPACE;
    else process.env.PODFILES_NAMESPACE = saved;
  });

  it("pod only: namespace from -n, $PODFILES_NAMESPACE, else default", () => {
    delete process.env.PODFILES_NAMESPACE;
    expect(parseRemote("web-0:/etc/hosts")).toEqual({ container: { namespace: "default", pod: "web-0", container: "" }, path: "/etc/hosts" });
    process.env.PODFILES_NAMESPACE = "envns";
    expect(parseRemote("web-0:/x").container.namespace).toBe("envns");
    expect(parseRemote("web-0:/x", { namespace: "prod" }).container.namespace).toBe("prod");
  });

  it("namespace/pod and namespace/pod/container; -c fills the container", () => {
    expect(parseRemote("prod/web-0:/var/log").container).toEqual({ namespace: "prod", pod: "web-0", container: "" });
    expect(parseRemote("prod/web-0/nginx:/etc").container).toEqual({ namespace: "prod", pod: "web-0", container: "nginx" });
    expect(parseRemote("prod/web-0:/etc", { container: "side" }).container.container).toBe("side");
    expect(parseRemote("prod/web-0/nginx:/etc", { container: "nginx" }).container.container).toBe("nginx");
  });

  it("empty path is the root, a relative one starts at the root, a trailing slash is kept", () => {
    expect(parseRemote("p:").path).toBe("/");
    expect(parseRemote("p:etc/hosts").path).toBe("/etc/hosts");
    expect(parseRemote("p:/tmp/").path).toBe("/tmp/");
    expect(parseRemote("p:/a:b").path).toBe("/a:b");
  });

  it.each([
    ["no colon", "web-0/etc"],
    ["empty pod", ":/etc"],
    ["four parts", "a/b/c/d:/x"],
    ["empty part", "a//b:/x"],
    ["upper case", "Web:/x"],
    ["bad character", "we_b:/x"],
  ])("refuses %s", (_what, arg) => {
    expect(() => parseRemote(arg)).toThrow(UsageError);
  });

  it("refuses a container named twice differently", () => {
    expect(() => parseRemote("ns/p/a:/x", { container: "b" })).toThrow(/names container a but -c says b/);
  });

  it("isRemote tells remote from local arguments", () => {
    expect(isRemote("p:/x")).toBe(true);
    expect(isRemote("ns/p:/x")).toBe(true);
    expect(isRemote("/tmp/x")).toBe(false);
    expect(isRemote("x")).toBe(false);
  });
});

describe("the container after the pod: [namespace/]pod:container:/path", () => {
  it("names the container when an absolute path follows the second colon", () => {
    expect(parseRemote("prod/web-0:nginx:/etc/nginx")).toEqual({ container: { namespace: "prod", pod: "web-0", container: "nginx" }, path: "/etc/nginx" });
    expect(parseRemote("web-0:nginx:/", { namespace: "n" }).container).toEqual({ namespace: "n", pod: "web-0", container: "nginx" });
    // a relative path with a colon stays a path; so does anything not a container name
    expect(parseRemote("web-0:a:b").path).toBe("/a:b");
    expect(parseRemote("web-0:/x:/y").path).toBe("/x:/y");
    expect(parseRemote("web-0:Not_A_Name:/y").path).toBe("/Not_A_Name:/y");
  });

  it("refuses a container named twice", () => {
    expect(() => parseRemote("prod/web-0/side:nginx:/etc")).toThrow(UsageError);
    expect(() => parseRemote("web-0:nginx:/etc", { container: "side" })).toThrow(/names container nginx but -c says side/);
  });
});
