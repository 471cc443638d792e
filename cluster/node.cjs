"use strict";
/* global require, process, console, setTimeout, __dirname -- Node (CommonJS) */
/* eslint-disable @typescript-eslint/no-require-imports -- a plain CommonJS child process */
// One node of the deployment test (cluster/run.mjs): Express + express-session (connect-redis 9,
// `trust proxy`, a `secure` cookie) and a SessionServer with a RedisSessionBus, behind nginx. It
// tells each socket which node it is on, and the parent every session end; it runs the parent's
// commands (increment, destroy, close, stats) over IPC. It stops on SIGTERM or when the parent goes.

const http = require("node:http");
const express = require("express");
const session = require("express-session");
const { RedisStore } = require("connect-redis");
// node-redis 5 by default; REDIS_MODULE=redis-v6 runs this node on node-redis 6 (a mixed deployment).
const { createClient } = require(process.env.REDIS_MODULE ?? "redis");
// The built library (npm run build); CLUSTER_DIST points elsewhere for a private build.
const dist = require("node:path").resolve(__dirname, "..", process.env.CLUSTER_DIST ?? "dist");
const { SessionServer } = require(`${dist}/index.js`);
const { RedisSessionBus } = require(`${dist}/redis.js`);

const name = process.env.NODE_NAME ?? "?";
const port = Number(process.env.PORT);
const secret = "cluster test secret";

function report(message) {
  if (process.connected) process.send({ node: name, ...message });
}

const redis = createClient({
  url: process.env.REDIS_URL,
  // Fail fast while Redis is down (docs/scaling-out.md); the bus keeps what it could not send.
  disableOfflineQueue: true,
  socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 500) },
});
redis.on("error", () => undefined); // node-redis reconnects by itself

const store = new RedisStore({ client: redis });
const app = express();
app.set("trust proxy", 1); // nginx terminates TLS: X-Forwarded-Proto says https
app.use(
  session({
    store,
    secret,
    resave: false,
    saveUninitialized: false,
    cookie: { secure: true, httpOnly: true, sameSite: "lax" },
  }),
);
app.get("/login", (req, res) => {
  req.session.user = { name: String(req.query.name ?? "") };
  req.session.counter = 0;
  res.json({ node: name });
});
app.get("/whoami", (req, res) => {
  res.json({ node: name, user: req.session.user ?? null, counter: req.session.counter ?? null });
});
app.get("/vendor/engine.io.min.js", (req, res) => {
  res.sendFile(require.resolve("engine.io-client/dist/engine.io.min.js"));
});
app.get("/page", (req, res) => {
  res.type("html").send(`<!doctype html><meta charset="utf-8"><title>cluster</title>
<script src="/vendor/engine.io.min.js"></script>
<script>
  window.events = [];
  const socket = eio();
  socket.on("message", (data) => window.events.push(JSON.parse(data)));
  socket.on("upgrade", () => window.events.push({ type: "upgrade", transport: socket.transport.name }));
  socket.on("close", (reason) => window.events.push({ type: "close", reason }));
</script>`);
});

const httpServer = http.createServer(app);
const bus = new RedisSessionBus(redis, { channel: "cluster-test" });
const server = new SessionServer(httpServer, {
  store,
  secret,
  bus,
  lookupTimeout: 1000,
  // Short, so a long-poll cycles within seconds (the rejoin check) and a dead peer is noticed.
  pingInterval: 2000,
  pingTimeout: 2000,
  // The race of issue 13 (#4): a revalidation that reads a destroyed session before the bus
  // message arrives must not tell its sockets "expired".
  revalidateInterval: 1000,
});

server.on("session", (socket, data) => {
  socket.send(
    JSON.stringify({
      type: "hello",
      node: name,
      user: data.user?.name ?? null,
      transport: socket.transport,
    }),
  );
  socket.on("session_end", (reason) => {
    socket.send(JSON.stringify({ type: "end", node: name, reason }));
  });
});
server.on("session_end", (sessionId, reason) => {
  report({ type: "session_end", sessionId, reason });
});
server.on("session_error", (error) => {
  report({ type: "session_error", code: error.code });
});

async function run(command) {
  switch (command.cmd) {
    case "increment": {
      const socket = server.socketsOf(command.sessionId)[0];
      if (socket === undefined) throw new Error(`no socket of the session on ${name}`);
      const results = await Promise.allSettled(
        Array.from({ length: command.count }, () =>
          socket.updateSession((record) => {
            record.counter = (record.counter ?? 0) + 1;
          }),
        ),
      );
      return results.filter(({ status }) => status === "rejected").length;
    }
    case "destroy": {
      const settled = await Promise.allSettled(
        command.sessionIds.map((sid) => server.destroySession(sid)),
      );
      return settled.map((each) =>
        each.status === "fulfilled" ? each.value : (each.reason.code ?? "ERROR"),
      );
    }
    case "close":
      return command.sessionIds.map((sid) => server.closeSession(sid));
    case "stats":
      return server.stats;
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

process.on("message", (command) => {
  run(command).then(
    (value) => report({ type: "reply", id: command.id, value }),
    (error) => report({ type: "reply", id: command.id, error: String(error.message ?? error) }),
  );
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(1), 3000).unref();
  server.close();
  httpServer.closeAllConnections();
  httpServer.close(() => {
    redis.destroy();
    process.exit(0);
  });
}
process.once("SIGTERM", stop);
process.once("disconnect", stop);

redis.connect().then(
  () =>
    httpServer.listen(port, "127.0.0.1", () => {
      report({ type: "ready" });
    }),
  (error) => {
    console.error(`node ${name}: ${error.message}`);
    process.exit(1);
  },
);
