// Preloaded into every process of an upstream run (NODE_OPTIONS=--require, so the fixtures that the
// suites start as child processes get it too):
// - socket.io's own `require("engine.io")` is answered by engine-io.cjs, so the Server that
//   `new Server()` of socket.io builds internally is the variant under test;
// - `.ts` files (socket.io's tests) are transpiled with the repository's TypeScript, type-only, as
//   upstream's tsx does; no type check, no extra download.

/* global require, __dirname -- CommonJS under Node */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, loaded by CommonJS code */

"use strict";

const Module = require("node:module");
const { readFileSync } = require("node:fs");
const { join, sep } = require("node:path");

const shim = join(__dirname, "engine-io.cjs");
const socketIoDir = `${sep}node_modules${sep}socket.io${sep}`;

const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, parent, ...rest) {
  if (request === "engine.io" && parent?.filename?.includes(socketIoDir)) return shim;
  return resolveFilename.call(this, request, parent, ...rest);
};

let ts;
Module._extensions[".ts"] = function (module, filename) {
  ts ??= require("typescript");
  const { outputText } = ts.transpileModule(readFileSync(filename, "utf8"), {
    fileName: filename,
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2020,
      esModuleInterop: true,
      sourceMap: false,
    },
  });
  module._compile(outputText, filename);
};
