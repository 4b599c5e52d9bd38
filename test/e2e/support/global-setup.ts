// vitest globalSetup for the e2e run: one cluster for all suites.
import { clusterDown, clusterIsUp, clusterUp } from "./cluster.js";

let startedHere = false;

export async function setup(): Promise<void> {
  if (await clusterIsUp()) {
    console.log("[e2e] reusing the running cluster");
    return;
  }
  const t0 = Date.now();
  await clusterUp();
  startedHere = true;
  console.log(`[e2e] cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

export async function teardown(): Promise<void> {
  if (!startedHere || process.env.PODFILES_KEEP_CLUSTER === "1") return;
  const t0 = Date.now();
  await clusterDown();
  console.log(`[e2e] cluster down in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
