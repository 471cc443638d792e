// socket.io's test/index.ts, read at run time, with the one file that needs uWebSockets.js (not on
// the npm registry) left out: the same describe("socket.io") around the same files, same order.

/* global require, describe -- CommonJS under mocha */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, loaded by CommonJS code */

"use strict";

const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const testDir = join(require("./paths.cjs").vendorDir, "socket.io/test");
const files = [
  ...readFileSync(join(testDir, "index.ts"), "utf8").matchAll(/require\("(\.\/[^"]+)"\)/g),
]
  .map((match) => match[1])
  .filter((file) => file !== "./uws");

describe("socket.io", () => {
  for (const file of files) require(join(testDir, file));
});
