import type { Config } from "jest";

const config: Config = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // tsconfig.json leaves isolatedModules off: ts-jest then type-checks each suite.
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }],
  },
  collectCoverage: true,
  collectCoverageFrom: ["lib/**/*.ts"],
  coverageReporters: ["text-summary", "text"],
  coverageThreshold: {
    global: { lines: 95, branches: 95, functions: 95, statements: 95 },
  },
  testTimeout: 20_000,
};

export default config;
