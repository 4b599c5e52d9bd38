// `podfiles agent` flags → ResolvedAgent: --exec-fallback is off unless asked, and only with forwarding
// (it needs the agents' directory to know which nodes have none).
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { registerAgent, validateAgent, type AgentOptions } from "./agent.js";

function agentOpts(args: string[]): AgentOptions {
  const program = new Command().exitOverride();
  registerAgent(program);
  let got: AgentOptions | undefined;
  program.commands[0]!.action((o: AgentOptions) => void (got = o));
  program.parse(["agent", "--proc-root", "/proc", ...args], { from: "user" });
  return got!;
}

describe("agent --exec-fallback", () => {
  it("is off by default", () => {
    expect(validateAgent(agentOpts(["--node-name", "a", "--agent-namespace", "podfiles"])).execFallback).toBeUndefined();
  });

  it("with forwarding: on", () => {
    const o = validateAgent(agentOpts(["--exec-fallback", "--node-name", "a", "--agent-namespace", "podfiles"]));
    expect(o.execFallback).toBe(true);
    expect(o.forwarding).toEqual({ namespace: "podfiles", node: "a" });
  });

  it("without forwarding: refused, saying what is missing", () => {
    expect(() => validateAgent(agentOpts(["--exec-fallback", "--no-forward", "--node-name", "a", "--agent-namespace", "podfiles"]))).toThrow(
      "--exec-fallback needs forwarding (the agents' directory tells which nodes have no agent): --no-forward given",
    );
    const noNode = agentOpts(["--exec-fallback", "--agent-namespace", "podfiles"]);
    delete noNode.nodeName; // commander's default is $NODE_NAME
    expect(() => validateAgent(noNode)).toThrow(/--exec-fallback needs forwarding .*: no node name \(--node-name \/ NODE_NAME\)$/);
  });
});
