// One upstream suite in one variant, in its own process: `node suite.cjs <suite> <result.json>`
// (UPSTREAM_VARIANT in the environment, hook.cjs preloaded). Runs mocha as upstream's package.json
// does (timeouts, no bail), prints mocha's spec report, writes every test's outcome to result.json
// and exits when mocha ends, as `mocha --exit` does: a suite's leftover handles never hold it.

/* global require, process, __dirname -- CommonJS under Node */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, loaded by CommonJS code */

"use strict";

const { writeFileSync } = require("node:fs");
const { join, resolve } = require("node:path");
const Mocha = require("mocha");

const [suiteName, resultFile] = process.argv.slice(2);
const { vendorDir: vendor } = require("./paths.cjs");

/** Per suite: working directory, files, and the mocha options of upstream's test script. */
const SUITES = {
  // packages/engine.io: "mocha --bail --exit" over test/*.js (webtransport.mjs left out: prepare.mjs).
  "engine.io": {
    cwd: join(vendor, "engine.io"),
    files: ["engine.io.js", "middlewares.js", "parser.js", "server.js"].map((f) => `test/${f}`),
    options: {},
  },
  // packages/socket.io: "mocha --import=tsx --slow 200 --bail --timeout 10000 test/index.ts".
  "socket.io": {
    cwd: join(vendor, "socket.io"),
    files: [join(__dirname, "socket-io-index.cjs")],
    options: { slow: 200, timeout: 10_000 },
  },
};

const suite = SUITES[suiteName];
if (suite === undefined || resultFile === undefined) {
  throw new Error(`usage: suite.cjs <${Object.keys(SUITES).join("|")}> <result.json>`);
}
// Upstream runs from the package folder: fixtures are read by relative paths.
process.chdir(suite.cwd);

/** Every declared test in file order, and what became of it; failed hooks listed apart. */
const tests = [];
const states = new Map();
const errors = new Map();
const hooks = [];

function declared(suite) {
  for (const test of suite.tests) tests.push(test);
  for (const child of suite.suites) declared(child);
}

function firstLine(err) {
  return String(err?.message ?? err)
    .split("\n")[0]
    .slice(0, 300);
}

/** mocha's spec report on stdout, plus each test's outcome kept for the comparison. */
class Collector extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const { EVENT_RUN_BEGIN, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } =
      Mocha.Runner.constants;
    runner.on(EVENT_RUN_BEGIN, () => declared(runner.suite));
    // A test can report twice (done() called twice, an error after it passed): failed wins.
    runner.on(EVENT_TEST_PASS, (test) => {
      if (!states.has(test)) states.set(test, "passed");
    });
    runner.on(EVENT_TEST_PENDING, (test) => {
      if (!states.has(test)) states.set(test, "pending");
    });
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      if (test.type === "hook") {
        // The tests it kept from running show up as "not run".
        hooks.push({ title: test.fullTitle(), error: firstLine(err) });
        return;
      }
      states.set(test, "failed");
      if (!errors.has(test)) errors.set(test, firstLine(err));
    });
  }
}

// UPSTREAM_ONLY: a JSON array of full titles; run just those (the re-runs of differences).
const only = process.env.UPSTREAM_ONLY ? JSON.parse(process.env.UPSTREAM_ONLY) : undefined;
const mocha = new Mocha({ reporter: Collector, color: false, ...suite.options });
if (only) {
  const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  mocha.grep(new RegExp(`^(?:${only.map(escape).join("|")})$`));
}
for (const file of suite.files) mocha.addFile(resolve(suite.cwd, file));

const started = Date.now();
const runner = mocha.run();
runner.on(Mocha.Runner.constants.EVENT_RUN_END, () => {
  const outcomes = tests
    .filter((test) => only === undefined || only.includes(test.fullTitle()))
    .map((test) => ({
      title: test.fullTitle(),
      state: states.get(test) ?? "not run",
      error: errors.get(test),
    }));
  writeFileSync(
    resultFile,
    JSON.stringify({
      suite: suiteName,
      ms: Date.now() - started,
      outcomes,
      hooks,
      sessionServers: globalThis[Symbol.for("engine.io-session/upstream")]?.sessionServers ?? 0,
    }),
  );
  process.exit(0);
});
