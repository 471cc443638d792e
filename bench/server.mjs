// The server under test: one variant, in its own process, on 127.0.0.1, driven over IPC by
// bench/run.mjs. Run with --expose-gc (for the memory figure).
//
//   node --expose-gc bench/server.mjs <variant> [redisPort]
//
// Variants:
//   plain          engine.io Server attached to an http server: the limit, session cost zero
//   use            engine.use(session(...)): socket.io's documented recipe (every HTTP request)
//   use-guard      the same behind the documented handshake-only guard (req._query.sid === undefined)
//   session-memory SessionServer + express-session MemoryStore
//   session-redis  SessionServer + connect-redis 9 (node-redis 5)
//   session-window SessionServer + MemoryStore with coalesceWindow 2000
//   plain-async    (investigations only) plain engine.io, handshakes answered one loop turn later
import http from "node:http";
import process from "node:process";
import v8 from "node:v8";
import { createRequire } from "node:module";
import { setImmediate as tick } from "node:timers/promises";
import { setImmediate } from "node:timers";
import {
  COOKIE_NAME,
  SECRET,
  cookieHeader,
  newSessionId,
  sessionRecord,
} from "./session-fixture.mjs";
import { serveOrchestrator } from "./ipc-child.mjs";

const require = createRequire(import.meta.url);
const { Server } = require("engine.io");
const session = require("express-session");
// The orchestrator hands over a snapshot of dist/ (BENCH_DIST); standalone, use the build here.
const { SessionServer } = require(process.env.BENCH_DIST ?? "../dist/index.js");

const variant = process.argv[2];
const redisPort = Number(process.argv[3] ?? 0);

// ---------------------------------------------------------------- store, with read counters
const counters = { get: 0, set: 0, touch: 0 };

async function makeStore() {
  let store;
  let redisClient;
  if (variant === "session-redis") {
    const { createClient } = require("redis");
    const { RedisStore } = require("connect-redis");
    redisClient = createClient({ socket: { host: "127.0.0.1", port: redisPort } });
    redisClient.on("error", (error) => {
      process.stderr.write(`[server] redis error: ${String(error)}\n`);
    });
    await redisClient.connect();
    store = new RedisStore({ client: redisClient, prefix: "bench:" });
  } else {
    store = new session.MemoryStore();
  }
  // Count every call in this process; keep each method's declared arity (the library reads it).
  const { get, set, touch } = store;
  store.get = function countedGet(sid, callback) {
    counters.get++;
    return get.call(this, sid, callback);
  };
  store.set = function countedSet(sid, sess, callback) {
    counters.set++;
    return set.call(this, sid, sess, callback);
  };
  if (typeof touch === "function") {
    store.touch = function countedTouch(sid, sess, callback) {
      counters.touch++;
      return touch.call(this, sid, sess, callback);
    };
  }
  return { store, redisClient };
}

function storeSet(store, sid, record) {
  return new Promise((resolve, reject) => {
    store.set(sid, record, (error) => (error ? reject(error) : resolve()));
  });
}

// ---------------------------------------------------------------- the variant's engine
const mode = { closeOnConnect: false, echo: true };
let messages = 0;

/** What the app does with a raw engine.io socket (plain engine.io and the recipe). */
function onRawSocket(conn) {
  if (mode.closeOnConnect) {
    conn.close(true);
    return;
  }
  conn.on("message", (data) => {
    messages++;
    if (mode.echo && conn.transport.name === "websocket") conn.send(data);
  });
}

/** The documented handshake-only guard of socket.io's "use with express-session" guide. */
function onlyForHandshake(middleware) {
  return (req, res, next) => {
    const isHandshake = req._query.sid === undefined;
    if (isHandshake) {
      middleware(req, res, next);
    } else {
      next();
    }
  };
}

/** The recipe's "only allow authenticated users" check, so every variant refuses a bad session. */
function requireUser(req, res, next) {
  if (req.session?.user) next();
  else next(new Error("unauthorized"));
}

function build(httpServer, store) {
  if (variant === "plain") {
    const engine = new Server();
    engine.attach(httpServer);
    engine.on("connection", onRawSocket);
    return engine;
  }
  if (variant === "plain-async") {
    // For investigations (bench/profile.mjs): plain engine.io whose handshakes finish one event-loop
    // turn later, as every session variant's do. Not part of the default run.
    const engine = new Server({
      allowRequest: (req, callback) => setImmediate(callback, null, true),
    });
    engine.attach(httpServer);
    engine.on("connection", onRawSocket);
    return engine;
  }
  if (variant === "use" || variant === "use-guard") {
    const sessionMiddleware = session({
      store,
      secret: SECRET,
      name: COOKIE_NAME,
      resave: false,
      saveUninitialized: false,
    });
    const engine = new Server();
    engine.attach(httpServer);
    if (variant === "use") {
      engine.use(sessionMiddleware);
      engine.use(requireUser);
    } else {
      engine.use(onlyForHandshake(sessionMiddleware));
      engine.use(onlyForHandshake(requireUser));
    }
    engine.on("connection", onRawSocket);
    return engine;
  }
  if (variant === "session-memory" || variant === "session-redis" || variant === "session-window") {
    // session-window: handshakes of one session share an answered read for 2 s (option
    // coalesceWindow). Every handshake of the bench carries the same session, so this variant shows
    // the cost of the session path without the store: an upper bound, not a typical app.
    const coalesceWindow = variant === "session-window" ? 2000 : 0;
    const engine = new SessionServer(httpServer, {
      store,
      secret: SECRET,
      name: COOKIE_NAME,
      coalesceWindow,
    });
    engine.on("session", (socket) => {
      if (mode.closeOnConnect) {
        socket.conn.close(true);
        return;
      }
      socket.on("message", (data) => {
        messages++;
        if (mode.echo && socket.transport === "websocket") socket.send(data);
      });
    });
    return engine;
  }
  throw new Error(`unknown variant '${variant}'`);
}

// ---------------------------------------------------------------- control over IPC
async function collect() {
  // Several passes: sockets closed just before need their close handlers and weak maps cleared.
  for (let i = 0; i < 4; i++) {
    globalThis.gc?.();
    await tick();
  }
  const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
  return { rss, heapUsed, external, arrayBuffers };
}

async function closeAll(engine) {
  for (const id of Object.keys(engine.clients)) engine.clients[id].close(true);
  for (let i = 0; i < 200 && engine.clientsCount > 0; i++) await tick();
  return engine.clientsCount;
}

async function main() {
  const { store, redisClient } = await makeStore();
  const sessionId = newSessionId();
  const record = sessionRecord();
  await storeSet(store, sessionId, record);
  counters.set = 0;
  const cookie = cookieHeader(sessionId);

  const httpServer = http.createServer();
  httpServer.keepAliveTimeout = 60_000;
  const engine = build(httpServer, store);
  await new Promise((resolve) =>
    httpServer.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, resolve),
  );
  const { port } = httpServer.address();

  let cpuMark = process.cpuUsage();
  const handlers = {
    mode: (args) => Object.assign(mode, args),
    reset: () => {
      counters.get = counters.set = counters.touch = 0;
      messages = 0;
      cpuMark = process.cpuUsage();
      return { at: Number(process.hrtime.bigint() / 1000n) }; // µs, the clock of --cpu-prof
    },
    stats: () => {
      const cpu = process.cpuUsage(cpuMark);
      return {
        ...counters,
        messages,
        clients: engine.clientsCount,
        cpuMicros: cpu.user + cpu.system,
        at: Number(process.hrtime.bigint() / 1000n),
      };
    },
    closeAll: () => closeAll(engine),
    memory: () => collect(),
    /** The heap size of one session record (what the store returns), measured on 10,000 copies. */
    recordHeapBytes: async () => {
      const copies = new Array(10_000);
      const before = (await collect()).heapUsed;
      for (let i = 0; i < copies.length; i++) copies[i] = JSON.parse(JSON.stringify(record));
      const after = (await collect()).heapUsed;
      const bytes = (after - before) / copies.length - 8; // minus the array slot
      copies.length = 0;
      return bytes;
    },
    // For investigations (bench/profile.mjs does not need it): a heap snapshot after GC.
    heapSnapshot: async ({ file }) => {
      await collect();
      return v8.writeHeapSnapshot(file);
    },
  };
  serveOrchestrator(handlers, {
    port,
    cookie,
    recordJsonLength: JSON.stringify(record).length,
    redis: redisClient !== undefined,
  });
}

main().catch((error) => {
  process.stderr.write(`[server ${variant}] ${String(error?.stack ?? error)}\n`);
  process.exit(1);
});
