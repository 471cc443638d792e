"use strict";
/* global require */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS consumer */
// CommonJS consumer: require("engine.io-session") resolves through package.json "exports".
const assert = require("node:assert/strict");
const path = require("node:path");
const lib = require("engine.io-session");
const { run } = require("./scenario.cjs");

const resolved = require.resolve("engine.io-session");
assert.ok(
  resolved.includes(`${path.sep}node_modules${path.sep}engine.io-session${path.sep}`),
  `engine.io-session resolves to the installed tarball, not ${resolved}`,
);
assert.match(require("engine.io-session/package.json").version, /^\d+\.\d+\.\d+/);
assert.throws(
  () => require("engine.io-session/dist/store"),
  { code: "ERR_PACKAGE_PATH_NOT_EXPORTED" },
  "internals stay behind package.json exports",
);

run(lib, "cjs.cjs (require)");
