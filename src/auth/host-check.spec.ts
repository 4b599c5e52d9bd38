import { describe, expect, it } from "vitest";
import { hostName, isServedHost, parseAllowedHosts } from "./host-check.js";

describe("Host names served without auth", () => {
  const none = new Set<string>();
  it("IP literals, localhost and *.localhost; not other names", () => {
    for (const h of [
      "127.0.0.1",
      "127.0.0.1:8080",
      "127.9.9.9",
      "[::1]:8080",
      "[::1]",
      "10.0.0.5:80",
      "localhost",
      "LOCALHOST:1",
      "app.localhost:8080",
      "localhost.",
    ])
      expect(isServedHost(h, none), h).toBe(true);
    for (const h of [
      "rebind.evil.example",
      "rebind.evil.example:8080",
      "localhost.evil.example",
      "evil-localhost",
      "2130706433",
      "",
      "a b",
      "[not-ip]:80",
      "user@127.0.0.1",
      "127.0.0.1:8080/x",
    ])
      expect(isServedHost(h, none), h).toBe(false);
  });

  it("--allowed-host names, case and port aside", () => {
    const allowed = new Set(parseAllowedHosts(["files.example.com,Other.Example", "third.example"]));
    expect([...allowed]).toEqual(["files.example.com", "other.example", "third.example"]);
    expect(isServedHost("FILES.example.com:8443", allowed)).toBe(true);
    expect(isServedHost("sub.files.example.com", allowed)).toBe(false);
    expect(() => parseAllowedHosts(["files.example.com:8080"])).toThrow(/--allowed-host files.example.com:8080: not a host name/);
    expect(() => parseAllowedHosts(["https://files.example.com"])).toThrow(/not a host name/);
    expect(() => parseAllowedHosts(["::1"])).toThrow(/not a host name/); // IP addresses are served anyway
  });

  it("hostName strips port and brackets", () => {
    expect(hostName("[::1]:80")).toBe("::1");
    expect(hostName("Example.COM:443")).toBe("example.com");
  });
});
