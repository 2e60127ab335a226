import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real-kernel tests share one machine: a coldplug in one file sends "add"/"change" to every device, which
    // every other file's daemon receives too. Test files therefore run one at a time.
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
