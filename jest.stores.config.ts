import type { Config } from "jest";

/**
 * The real-store matrix (`npm run test:stores`): nine express-session stores against private
 * Redis, PostgreSQL, MariaDB and memcached instances that the global setup starts. No coverage
 * gate: `npm test` holds the library to its coverage.
 */
const config: Config = {
  testEnvironment: "node",
  roots: ["<rootDir>/stores"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Transpile only (isolatedModules): `npm run typecheck` already type-checks stores/, and three
    // workers type-checking the library at once cost more CPU than the checks themselves.
    "^.+\\.ts$": ["ts-jest", { tsconfig: "stores/tsconfig.jest.json" }],
  },
  reporters: ["default", "<rootDir>/stores/matrix-reporter.cjs"],
  globalSetup: "<rootDir>/stores/global-setup.ts",
  globalTeardown: "<rootDir>/stores/global-teardown.ts",
  // The suites wait on timers more than they compute; one suite per backing server.
  maxWorkers: 3,
  testTimeout: 30_000,
  // connect-memcached's client (memcached 2.2.2) answers concurrent failures during the outage
  // checks with a reconnect timer it keeps no handle of (5 h by default): it cannot be cleared, and
  // it would hold the run open.
  forceExit: true,
};

export default config;
