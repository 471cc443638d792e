import { spawnSync } from "node:child_process";
import type { Config } from "jest";

/** The Redis suites skip themselves without a Redis; then lib/redis.ts is not held to coverage. */
const hasRedis =
  process.env.REDIS_URL !== undefined || spawnSync("redis-server", ["--version"]).status === 0;

const config: Config = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // tsconfig.json leaves isolatedModules off: ts-jest then type-checks each suite.
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }],
  },
  collectCoverage: true,
  collectCoverageFrom: ["lib/**/*.ts", ...(hasRedis ? [] : ["!lib/redis.ts"])],
  coverageReporters: ["text-summary", "text"],
  coverageThreshold: {
    global: { lines: 95, branches: 95, functions: 95, statements: 95 },
  },
  testTimeout: 20_000,
};

export default config;
