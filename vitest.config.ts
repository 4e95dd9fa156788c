import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql ships both .mjs and .js; one copy for every importer avoids
  // "Cannot use GraphQLEnumType from another module or realm".
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    // Each file owns its databases and servers; two workers match the 2-core machines.
    pool: 'forks',
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
