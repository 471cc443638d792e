// One server process of one variant: `node server.mjs <variant>` under run.mjs (IPC).
//   later   plain engine.io; allowRequest answers in setImmediate (the baseline)
//   floor   engine.io + floor.mjs's allowRequest (cookie, HMAC, store.get, copy)
//   session SessionServer from dist/ (its "session" event)
//   io-later, io-floor, io-session: the same three under socket.io (createSessionIo for the last)
// Every socket is closed by the server as soon as the app has it (polling: at once, discarding the
// transport; websocket: the client closes after the open packet), so nothing accumulates.
// The process measures itself: between "begin" and "end" it reports its own CPU time
// (process.cpuUsage, all threads), the handshakes completed, event-loop utilisation and GC time.
import http from "node:http";
import console from "node:console";
import { createRequire } from "node:module";
import process from "node:process";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { setImmediate, setTimeout } from "node:timers";
import { COOKIE_NAME, SECRET, fillStore } from "./sessions.mjs";
import { floorAllowRequest } from "./floor.mjs";

const require = createRequire(import.meta.url);
const eio = require("engine.io");
const session = require("express-session");

const variant = process.argv[2];
const WATCHDOG_MS = Number(process.env.OUTSIDE_WATCHDOG_MS ?? 6 * 60 * 1000);
setTimeout(() => {
  console.error(`server ${variant}: watchdog, exiting`);
  process.exit(3);
}, WATCHDOG_MS).unref();
process.on("disconnect", () => process.exit(0));

const store = new session.MemoryStore();
await fillStore(store);

const httpServer = http.createServer();
let ops = 0;
let refused = 0;
const kept = { session: undefined }; // the last session, so the copy cannot be optimised away

function onSocket(socket, sessionValue) {
  ops++;
  kept.session = sessionValue;
  if (socket.transport.name === "polling") socket.close(true);
}

let server;
if (variant === "later") {
  server = eio.attach(httpServer, { allowRequest: (req, fn) => setImmediate(fn, null, true) });
  server.on("connection", (socket) => onSocket(socket, undefined));
} else if (variant === "floor") {
  server = eio.attach(httpServer, {
    allowRequest: floorAllowRequest({ store, secret: SECRET, name: COOKIE_NAME }),
  });
  server.on("connection", (socket) => onSocket(socket, socket.request.floorSession));
} else if (variant === "session" || variant === "session-b") {
  const dist =
    variant === "session-b" && process.env.OUTSIDE_DIST_B !== undefined
      ? process.env.OUTSIDE_DIST_B
      : "../../dist/index.js";
  const { SessionServer } = require(dist);
  server = new SessionServer(httpServer, { store, secret: SECRET, name: COOKIE_NAME });
  server.on("session", (socket, value) => onSocket(socket.conn, value));
} else if (variant.startsWith("io-")) {
  // socket.io over each: the operation ends at socket.io's "connection" (after the client's "40").
  const options = { serveClient: false };
  let io;
  if (variant === "io-later") {
    const { Server } = require("socket.io");
    io = new Server(httpServer, {
      ...options,
      allowRequest: (req, fn) => setImmediate(fn, null, true),
    });
    io.on("connection", (socket) => onSocket(socket.conn, undefined));
  } else if (variant === "io-floor") {
    const { Server } = require("socket.io");
    const allowRequest = floorAllowRequest({ store, secret: SECRET, name: COOKIE_NAME });
    io = new Server(httpServer, { ...options, allowRequest });
    io.on("connection", (socket) => onSocket(socket.conn, socket.conn.request.floorSession));
  } else if (variant === "io-session") {
    const { createSessionIo } = require("../../dist/socket-io.js");
    io = createSessionIo(httpServer, { ...options, store, secret: SECRET, name: COOKIE_NAME });
    io.on("connection", (socket) => onSocket(socket.conn, io.sessionOf(socket).session));
  } else {
    console.error(`unknown variant ${variant}`);
    process.exit(2);
  }
  server = io.engine;
} else {
  console.error(`unknown variant ${variant}`);
  process.exit(2);
}
server.on("connection_error", () => refused++);

let gcMs = 0;
let gcCount = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration;
    gcCount++;
  }
}).observe({ entryTypes: ["gc"] });

let start;
process.on("message", (msg) => {
  if (msg.cmd === "begin") {
    start = {
      cpu: process.cpuUsage(),
      elu: performance.eventLoopUtilization(),
      t: performance.now(),
      ops,
      refused,
      gcMs,
      gcCount,
    };
    process.send({ cmd: "begun" });
  } else if (msg.cmd === "end") {
    const cpu = process.cpuUsage(start.cpu);
    const elu = performance.eventLoopUtilization(start.elu);
    process.send({
      cmd: "ended",
      cpuUs: cpu.user + cpu.system,
      systemUs: cpu.system,
      wallMs: performance.now() - start.t,
      ops: ops - start.ops,
      refused: refused - start.refused,
      elu: elu.utilization,
      gcMs: gcMs - start.gcMs,
      gcCount: gcCount - start.gcCount,
      clients: server.clientsCount,
      rssMb: process.memoryUsage().rss / 2 ** 20,
    });
  }
});

httpServer.listen(0, "127.0.0.1", () => {
  process.send({ cmd: "ready", port: httpServer.address().port, keptType: typeof kept.session });
});
