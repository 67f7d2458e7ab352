// Three projects: unit tests of pure modules; integration tests against the real services that
// test/harness/global-setup.ts starts once per run; and, after them, the API fuzz run on a stack of its own
// (it changes settings, targets and tokens at random, which no other test file may see). The terminal gets vitest's report only: workers log
// to files under the run's logs folder (test/harness/logs.ts), and console output shows only for tests
// that fail.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    silent: 'passed-only',
    // The report names a passing test only when it took longer than this, to stay short on a busy machine.
    slowTestThreshold: 1_000,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/deploy/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          pool: 'forks',
          maxWorkers: 2,
        },
      },
      {
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 180_000,
          pool: 'forks',
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
