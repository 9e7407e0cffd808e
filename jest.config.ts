import type { Config } from 'jest';

const config: Config = {
  preset: 'ts-jest',
  // The node environment, failing a file that leaves a socket, server or child process open.
  testEnvironment: '<rootDir>/test/helpers/leak-check-environment.ts',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  testTimeout: 30000,
  // Integration tests open real sockets and SQLite files; two workers fit this 2-core machine.
  maxWorkers: 2,
};

export default config;
