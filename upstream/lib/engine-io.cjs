// What `require("engine.io")` gives the upstream suites: the real engine.io module, or (variant
// "session") the same module with `Server`, `attach` and `listen` rebuilt on SessionServer.
// engine.io's tests reach it as `require("..")`; socket.io's `lib/` reaches it through hook.cjs.
//
// UPSTREAM_VARIANT  "plain" (default) | "session"
// UPSTREAM_DIST     where the built library is (default: the repository's dist/)

/* global require, module, process, __dirname -- CommonJS under Node */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS, loaded by CommonJS code */

"use strict";

const { createServer } = require("node:http");
const { resolve } = require("node:path");
const eio = require("engine.io");

const variant = process.env.UPSTREAM_VARIANT ?? "plain";

if (variant === "plain") {
  module.exports = eio;
} else if (variant === "session") {
  const { SessionServer } = require(process.env.UPSTREAM_DIST ?? resolve(__dirname, "../../dist"));
  const { MemoryStore } = require("express-session");

  /** engine.io's `new Server(opts)`, answered by a SessionServer that lets anonymous sockets in. */
  // Counted, so a run can tell that the suites really built SessionServers (suite.cjs reports it).
  const counter = (globalThis[Symbol.for("engine.io-session/upstream")] ??= { sessionServers: 0 });

  class Server extends SessionServer {
    constructor(opts) {
      super({ store: new MemoryStore(), secret: "x", required: false, ...opts });
      counter.sessionServers += 1;
    }
  }

  /** engine.io's module-level `attach`, same body, our Server. */
  function attach(server, options) {
    const engine = new Server(options);
    engine.attach(server, options);
    return engine;
  }

  /** engine.io's module-level `listen`, same body, our Server. */
  function listen(port, options, listenCallback) {
    if (typeof options === "function") {
      listenCallback = options;
      options = {};
    }
    const server = createServer((req, res) => {
      res.writeHead(501);
      res.end("Not Implemented");
    });
    const engine = attach(server, options);
    engine.httpServer = server;
    server.listen(port, listenCallback);
    return engine;
  }

  // engine.io's exports are getters: copy their values, then replace the three entry points.
  module.exports = { ...eio, Server, attach, listen };
} else {
  throw new Error(`UPSTREAM_VARIANT must be "plain" or "session", not ${JSON.stringify(variant)}`);
}
