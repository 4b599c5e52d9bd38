import { describe, expect, it } from "vitest";
import { fdBudget, resolveLimits, softFdLimit } from "./connection-limits.js";

const limits = (soft: string, hard = soft) =>
  `Limit                     Soft Limit           Hard Limit           Units\nMax cpu time              unlimited            unlimited            seconds\nMax open files            ${soft}                 ${hard}                 files\n`;

describe("connection caps from the fd limit", () => {
  it("reads the soft RLIMIT_NOFILE from /proc/self/limits text", () => {
    expect(softFdLimit(limits("256"))).toBe(256);
    expect(softFdLimit(limits("1048576"))).toBe(1048576);
    expect(softFdLimit(limits("unlimited"))).toBeUndefined();
    expect(softFdLimit("garbage")).toBeUndefined();
    expect(softFdLimit()).toBeGreaterThan(0); // this process's own
  });

  it("keeps half of the fds, and at least 128, for files", () => {
    expect(fdBudget(256)).toBe(128);
    expect(fdBudget(1024)).toBe(512);
    expect(fdBudget(200)).toBe(72);
    expect(fdBudget(100)).toBe(1);
  });

  it("lowers the total (default or configured) to the budget; per peer defaults to half the total", () => {
    expect(resolveLimits({}, 256)).toMatchObject({ maxConnections: 128, maxConnectionsPerPeer: 64, loweredFrom: 1024 });
    expect(resolveLimits({}, 1048576)).toMatchObject({ maxConnections: 1024, maxConnectionsPerPeer: 256 });
    expect(resolveLimits({}, 1048576).loweredFrom).toBeUndefined();
    expect(resolveLimits({ maxConnections: 5000, maxConnectionsPerPeer: 3000 }, 4096)).toMatchObject({
      maxConnections: 2048,
      maxConnectionsPerPeer: 3000,
      loweredFrom: 5000,
    });
    expect(resolveLimits({ maxConnections: 10 }, undefined)).toMatchObject({ maxConnections: 10, maxConnectionsPerPeer: 5 });
  });
});
