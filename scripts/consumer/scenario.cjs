"use strict";
/* global require, exports, console, process, fetch, setTimeout, Buffer */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS consumer */
// The runtime check shared by cjs.cjs and esm.mjs: they load engine.io-session their own way and
// hand its exports here. Real express + express-session + SessionServer on 127.0.0.1, port 0; real
// engine.io-client sockets (Node, cookie in extraHeaders). Exits 0 only when every check passed.
const http = require("node:http");
const assert = require("node:assert/strict");
const express = require("express");
const session = require("express-session");
const { Server: EngineServer } = require("engine.io");
const { Socket: ClientSocket } = require("engine.io-client");

function fail(label, error) {
  console.error(`FAIL ${label}: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
}

/** Resolves with what the client went through: its messages, or the error that refused it. */
function connect(url, options, expectedMessages) {
  return new Promise((resolve) => {
    const client = new ClientSocket(url, options);
    const messages = [];
    client.on("message", (data) => {
      messages.push(String(data));
      if (messages.length === 1) client.send("ping");
      if (messages.length === expectedMessages) {
        client.close();
        resolve({ messages, transport: client.transport.name });
      }
    });
    client.once("error", (error) => {
      client.close();
      resolve({ error });
    });
  });
}

async function scenario(lib, label) {
  const { SessionServer, SessionError, attach } = lib;
  for (const name of ["SessionServer", "SessionSocket", "SessionError", "attach"]) {
    assert.equal(typeof lib[name], "function", `export ${name}`);
  }

  const store = new session.MemoryStore();
  const secret = ["new secret", "old secret"];
  const app = express();
  app.use(session({ store, secret, resave: false, saveUninitialized: false }));
  app.get("/login", (req, res) => {
    req.session.user = { name: String(req.query.name) };
    res.json({ ok: true });
  });
  const httpServer = http.createServer(app);
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${httpServer.address().port}`;

  const server = attach(httpServer, { store, secret });
  assert.ok(server instanceof SessionServer, "attach() returns a SessionServer");
  assert.ok(server instanceof EngineServer, "a SessionServer is an engine.io Server");
  const sessions = [];
  const errors = [];
  server.on("session", (socket, value) => {
    sessions.push({ value, socket });
    socket.send(`hello ${value.user?.name}`);
    socket.on("message", (data) => socket.send(`echo ${data}`));
  });
  server.on("session_error", (error) => errors.push(error));

  // No cookie: refused, explained by a SessionError (the exported class) with code NO_COOKIE.
  const anonymous = await connect(url, { transports: ["polling"] }, 2);
  assert.ok(anonymous.error, "a client without a session cookie is refused");
  assert.equal(errors.length, 1, "one session_error for the refused handshake");
  assert.ok(errors[0] instanceof SessionError, "session_error gives the exported SessionError");
  assert.equal(errors[0].code, "NO_COOKIE");

  // Logged in over HTTP: the session event delivers the user, then messages flow both ways.
  const login = await fetch(`${url}/login?name=alice`);
  await login.text();
  const cookie = login.headers
    .getSetCookie()
    .find((each) => each.startsWith("connect.sid="))
    ?.split(";")[0];
  assert.ok(cookie, "the login response sets connect.sid");
  for (const transports of [["polling", "websocket"], ["websocket"]]) {
    const result = await connect(url, { transports, extraHeaders: { cookie } }, 2);
    assert.equal(result.error, undefined, `${transports} client connects`);
    assert.deepEqual(result.messages, ["hello alice", "echo ping"], `${transports} messages`);
  }
  assert.equal(sessions.length, 2, "one session event per logged-in client");
  for (const { value, socket } of sessions) {
    assert.equal(value.user?.name, "alice", "the session event delivers the user");
    assert.ok(socket instanceof lib.SessionSocket, "the session event gives a SessionSocket");
  }
  assert.equal(errors.length, 1, "no session_error for the logged-in clients");

  const error = new SessionError("TIMEOUT", undefined, { cause: Buffer.from("x") });
  assert.ok(error instanceof Error && error.code === "TIMEOUT" && error.name === "SessionError");

  server.close();
  await new Promise((resolve) => httpServer.close(resolve));
}

/** Runs the scenario with a 15 s budget; the process must then exit on its own (no open handle). */
exports.run = function run(lib, label) {
  process.exitCode = 1; // only a finished scenario passes: an emptied event loop must not look green
  setTimeout(() => fail(label, "no result within 15 s"), 15_000).unref();
  scenario(lib, label).then(
    () => {
      console.log(`ok ${label}: session event delivered user alice (polling+upgrade, websocket)`);
      process.exitCode = 0;
      setTimeout(() => fail(label, "still running 5 s after closing everything"), 5_000).unref();
    },
    (error) => fail(label, error),
  );
};
