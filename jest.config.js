/** Jest runs in native ESM mode: every @nestjs/* 12 package is an ES module. */
export default {
  testEnvironment: 'node',
  rootDir: '.',
  testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // @fastify/static (Swagger UI's assets) requires content-disposition 3, an ES module, from
    // CommonJS: Node 20 allows that, jest's module loader does not. Version 1 is CommonJS.
    '^content-disposition$': 'content-disposition-cjs',
  },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  globalSetup: '<rootDir>/test/setup/global-setup.js',
  globalTeardown: '<rootDir>/test/setup/global-teardown.js',
  testTimeout: 60000,
  // One test file at a time (the suite starts real services and child processes on 2 cores),
  // in a worker process rather than jest's own: a file that hangs or exits cannot take the run
  // down, and a worker grown large with ES modules is replaced.
  maxWorkers: 1,
  workerIdleMemoryLimit: '1GB',
};
