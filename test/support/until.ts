// Polling for the tests that wait on something outside the process (a cluster, a pod, a grant).
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls fn every stepMs until it returns a value (errors count as "not yet"); fails after timeoutMs with the last error. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000, stepMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(stepMs);
  }
}
