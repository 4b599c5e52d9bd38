import { describe, expect, it } from "vitest";
import { gcTuningApplies } from "./process-gc.js";

describe("gcTuningApplies", () => {
  it("is on for Node 20 only, and off with PODFILES_INCREMENTAL_MARKING=1", () => {
    expect(gcTuningApplies({}, "20.20.2")).toBe(true);
    expect(gcTuningApplies({ PODFILES_INCREMENTAL_MARKING: "1" }, "20.20.2")).toBe(false);
    expect(gcTuningApplies({ PODFILES_INCREMENTAL_MARKING: "0" }, "20.1.0")).toBe(true);
    expect(gcTuningApplies({}, "24.22.3")).toBe(false);
    expect(gcTuningApplies({}, "22.0.0")).toBe(false);
    expect(gcTuningApplies({}, "2.0.0")).toBe(false);
  });
});
