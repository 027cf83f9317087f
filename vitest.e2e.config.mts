import { defineConfig } from "vitest/config";

/**
 * `npm run test:e2e`: exported scripts against real Docker Engines on simulated hosts (test/e2e/globalSetup.ts).
 * One file, scenarios in sequence (they share the hosts); each scenario has its own time limit.
 */
export default defineConfig({
  test: {
    include: ["test/e2e/**/*.e2e.test.ts"],
    globalSetup: ["test/e2e/globalSetup.ts"],
    testTimeout: 240_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
    maxWorkers: 1,
  },
});
