// End-to-end tests against a real one-node Kubernetes cluster (scripts/cluster.sh).
// `npm run test:e2e` builds the Kubernetes binaries on first use (minutes, cached outside the repo),
// brings the cluster up once for all suites (or reuses a running one) and, if it started it, tears
// it down at the end unless PODFILES_KEEP_CLUSTER=1.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // real-api.spec.ts: the agent's Kubernetes resolution against this cluster's API server (skipped by
    // `npm test` when no cluster runs; it runs here)
    include: ['test/e2e/**/*.spec.ts', 'test/containers/real-api.spec.ts'],
    // the cluster first: it may outlive the run (PODFILES_KEEP_CLUSTER=1), so it must not get the run's
    // temporary directory as its TMPDIR
    globalSetup: ['test/e2e/support/global-setup.ts', 'test/support/run-temp-dir.ts'],
    env: { PODFILES_E2E: '1', PODFILES_REAL_API: '1' },
    // one cluster (two nodes by default): suites run one after another
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 45 * 60_000,
    teardownTimeout: 120_000,
  },
});
