// Where an upstream run keeps what it makes. Under node_modules/.cache: never committed, skipped by
// eslint and prettier, and wiped by `npm ci --prefix upstream` (vendor/ is laid out again).

/* global require, module, __dirname -- CommonJS under Node */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, loaded by CommonJS code */

"use strict";

const { join, resolve } = require("node:path");

const upstreamDir = resolve(__dirname, "..");
const cacheDir = join(upstreamDir, "node_modules", ".cache", "upstream");

module.exports = {
  upstreamDir,
  /** The suites' sources from their tags, laid out by prepare.mjs. */
  vendorDir: join(cacheDir, "vendor"),
  /** The build under test, copied once per run: a rebuild elsewhere in the checkout can't reach it. */
  distDir: join(cacheDir, "dist"),
  /** Each suite process's spec report and result JSON. */
  resultsDir: join(cacheDir, "results"),
};
