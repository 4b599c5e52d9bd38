import { defineConfig } from "vitest/config";

// `npm test` (scripts/test.sh) runs this: unit specs beside the code, the
// server suites under test/, and the real-container suites (root needed).
export default defineConfig({
  test: {
    include: ["src/**/*.spec.ts", "test/**/*.spec.ts"],
    exclude: ["test/e2e/**", "node_modules/**", "dist/**"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // every os.tmpdir() of the run in one directory, removed at the end (why: its header)
    globalSetup: ["test/support/run-temp-dir.ts"],
  },
});
