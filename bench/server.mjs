// The server under test: one variant, in its own process, on 127.0.0.1, driven over IPC by
// bench/run.mjs (or bench/profile.mjs). Run with --expose-gc (for the memory figure).
//
//   node --expose-gc bench/server.mjs '<json config>'
//   config: { variant, sessions = 10000, recordBytes = 300, secrets = 1, shared = false }
//
// engine.io variants (path /engine.io):
//   plain        engine.io attached to an http server: no session work at all
//   later        plain engine.io answering each handshake one loop turn later (allowRequest that
//                calls back in setImmediate): the baseline of every "extra" figure, because the
//                floor and SessionServer answer one turn later too (the store answers in a later turn)
//   floor        plain engine.io + the allowRequest of bench/floor.mjs: exactly what cannot be
//                avoided (one cookie parse, one HMAC-SHA256 per secret tried, one MemoryStore.get,
//                one structuredClone kept for the socket)
//   session      SessionServer + MemoryStore (defaults: required, same-origin)
//   session-window  the same with coalesceWindow: 2000 (the shared-cookie case)
//   session-b    (A/B of a change) SessionServer of another build: BENCH_DIST_B=/path/dist/index.js
//   use          socket.io's engine.use(session) recipe: express-session on every request
//   use-guard    the same behind the recipe's onlyForHandshake guard (req._query.sid === undefined)
// socket.io variants (path /socket.io; a handshake includes the CONNECT to "/"):
//   io-plain, io-later, io-floor, io-use, io-use-guard: the same, under socket.io
//   io-session   createSessionIo (engine.io-session/socket.io): SessionServer as socket.io's engine
//   io-esis      express-socket.io-session (io.use(sharedsession(session)))
// Every session variant refuses a handshake without a logged-in session (req.session.user).
/* global structuredClone -- a Node global, as in lib/ */
import http from "node:http";
import process from "node:process";
import v8 from "node:v8";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { Session as InspectorSession } from "node:inspector";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { setImmediate as tick } from "node:timers/promises";
import { setImmediate } from "node:timers";
import { URL } from "node:url";
import {
  COOKIE_NAME,
  cookieHeader,
  newSessionId,
  secrets as secretList,
  sessionRecord,
} from "./session-fixture.mjs";
import { serveOrchestrator } from "./ipc-child.mjs";
import { floorAllowRequest } from "./floor.mjs";

const require = createRequire(import.meta.url);
const { Server } = require("engine.io");
const session = require("express-session");
// The orchestrator hands over a snapshot of dist/ (BENCH_DIST); standalone, use the build here.
const dist = process.env.BENCH_DIST ?? new URL("../dist/index.js", import.meta.url).pathname;
const { SessionServer } = require(dist);

const config = {
  sessions: 10_000,
  recordBytes: 300,
  secrets: 1,
  shared: false,
  ...JSON.parse(process.argv[2] ?? "{}"),
};
const { variant } = config;
const io = variant.startsWith("io-");
const kind = io ? variant.slice(3) : variant;
const SECRETS = secretList(config.secrets);

// ---------------------------------------------------------------- counters and GC
const counters = { handshakes: 0, messages: 0, gets: 0, requests: 0 };
let gcMicros = 0;
let gcMajorMicros = 0;
let gcCount = 0;
const gcObserver = new PerformanceObserver((list) => countGc(list.getEntries()));
function countGc(entries) {
  for (const entry of entries) {
    gcMicros += entry.duration * 1000;
    gcCount++;
    // NODE_PERFORMANCE_GC_MAJOR = 4 (mark-compact)
    if ((entry.detail?.kind ?? entry.kind) === 4) gcMajorMicros += entry.duration * 1000;
  }
}
gcObserver.observe({ entryTypes: ["gc"] });

/**
 * CPU µs of the main (JavaScript) thread alone, from /proc (10 ms ticks): without V8's helper
 * threads (concurrent GC and compilation), whose share varies from window to window.
 */
function mainThreadMicros() {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10_000; // utime + stime, USER_HZ = 100
  } catch {
    return Number.NaN;
  }
}

// ---------------------------------------------------------------- the app's behaviour
const mode = { closeOnConnect: false };

/** What the app does with an engine.io socket (raw, or a SessionSocket: both have these). */
function onEngineSocket(socket, conn) {
  counters.handshakes++;
  if (mode.closeOnConnect) {
    conn.close(true);
    return;
  }
  socket.on("message", (data) => {
    counters.messages++;
    if (conn.transport.name === "websocket") socket.send(data);
  });
}

/** What the app does with a socket.io socket: echo "m" on websockets. */
function onIoSocket(socket) {
  counters.handshakes++;
  socket.on("m", (data) => {
    counters.messages++;
    if (socket.conn.transport.name === "websocket") socket.emit("m", data);
  });
}

/** The handshake-only guard of socket.io's "use with express-session" guide. */
function onlyForHandshake(middleware) {
  return (req, res, next) => {
    if (req._query.sid === undefined) middleware(req, res, next);
    else next();
  };
}

/** The recipe's "only allow authenticated users" check, so every variant refuses a bad session. */
function requireUser(req, res, next) {
  if (req.session?.user) next();
  else next(new Error("unauthorized"));
}

/** Plain engine.io, answering each handshake one loop turn later. */
function later(req, callback) {
  setImmediate(callback, null, true);
}

function expressSession(store) {
  return session({
    store,
    secret: SECRETS,
    name: COOKIE_NAME,
    resave: false,
    saveUninitialized: false,
  });
}

function buildEngine(httpServer, store) {
  const allowRequest =
    kind === "later" ? later : kind === "floor" ? floorAllowRequest(store, SECRETS) : undefined;
  if (kind.startsWith("session")) {
    const Engine = kind.endsWith("-b")
      ? require(process.env.BENCH_DIST_B).SessionServer
      : SessionServer;
    const engine = new Engine(httpServer, {
      store,
      secret: SECRETS,
      name: COOKIE_NAME,
      coalesceWindow: kind.startsWith("session-window") ? 2000 : 0,
    });
    engine.on("session", (socket) => onEngineSocket(socket, socket.conn));
    return engine;
  }
  const engine = new Server(allowRequest === undefined ? {} : { allowRequest });
  engine.attach(httpServer);
  if (kind === "use") {
    engine.use(expressSession(store));
    engine.use(requireUser);
  } else if (kind === "use-guard") {
    engine.use(onlyForHandshake(expressSession(store)));
    engine.use(onlyForHandshake(requireUser));
  }
  engine.on("connection", (conn) => onEngineSocket(conn, conn));
  return engine;
}

function buildIo(httpServer, store) {
  const { Server: IoServer } = require("socket.io");
  const ioOptions = { serveClient: false };
  let server;
  if (kind === "session") {
    const { createSessionIo } = require(dist.replace(/index\.js$/, "socket-io.js"));
    server = createSessionIo(httpServer, {
      ...ioOptions,
      store,
      secret: SECRETS,
      name: COOKIE_NAME,
    });
  } else {
    const allowRequest =
      kind === "later" ? later : kind === "floor" ? floorAllowRequest(store, SECRETS) : undefined;
    server = new IoServer(
      httpServer,
      allowRequest === undefined ? ioOptions : { ...ioOptions, allowRequest },
    );
    if (kind === "use") {
      server.engine.use(expressSession(store));
      server.engine.use(requireUser);
    } else if (kind === "use-guard") {
      server.engine.use(onlyForHandshake(expressSession(store)));
      server.engine.use(onlyForHandshake(requireUser));
    } else if (kind === "esis") {
      const sharedsession = require("express-socket.io-session");
      server.use(sharedsession(expressSession(store)));
      server.use((socket, next) => {
        if (socket.handshake.session?.user) next();
        else next(new Error("unauthorized"));
      });
    }
  }
  server.on("connection", (socket) => {
    onIoSocket(socket);
    // Closed by the client (its close packet), so that the CONNECT reply is surely delivered.
  });
  return server;
}

// ---------------------------------------------------------------- control over IPC
async function collect() {
  // Several passes: sockets closed just before need their close handlers and weak maps cleared.
  for (let i = 0; i < 4; i++) {
    globalThis.gc?.();
    await tick();
  }
  const { rss, heapUsed } = process.memoryUsage();
  return { rss, heapUsed };
}

async function closeAll(engine) {
  for (const id of Object.keys(engine.clients)) engine.clients[id].close(true);
  for (let i = 0; i < 500 && engine.clientsCount > 0; i++) await tick();
  return engine.clientsCount;
}

async function main() {
  const store = new session.MemoryStore();
  const record = sessionRecord(config.recordBytes);
  const signer = SECRETS[SECRETS.length - 1];
  const count = config.shared ? 1 : config.sessions;
  const cookies = [];
  for (let i = 0; i < count; i++) {
    const sessionId = newSessionId();
    store.set(sessionId, record, () => {});
    cookies.push(cookieHeader(sessionId, signer));
  }
  // Count reads after the fixture: the store answers as express-session's MemoryStore does.
  const { get } = store;
  store.get = function countedGet(sid, callback) {
    counters.gets++;
    return get.call(this, sid, callback);
  };

  const httpServer = http.createServer();
  httpServer.keepAliveTimeout = 120_000;
  httpServer.headersTimeout = 120_000;
  httpServer.requestTimeout = 0;
  const built = io ? buildIo(httpServer, store) : buildEngine(httpServer, store);
  // Every HTTP request and upgrade, whoever answers it (after attach: engine.io wraps the
  // listeners it finds).
  httpServer.prependListener("request", () => counters.requests++);
  httpServer.prependListener("upgrade", () => counters.requests++);
  const engine = io ? built.engine : built;
  await new Promise((resolve) =>
    httpServer.listen({ host: "127.0.0.1", port: 0, backlog: 4096 }, resolve),
  );
  const { port } = httpServer.address();

  let mark = null;
  let inspector;
  const handlers = {
    mode: (args) => Object.assign(mode, args),
    reset: () => {
      countGc(gcObserver.takeRecords());
      counters.handshakes = counters.messages = counters.gets = counters.requests = 0;
      gcMicros = gcMajorMicros = gcCount = 0;
      mark = {
        cpu: process.cpuUsage(),
        mainThread: mainThreadMicros(),
        elu: performance.eventLoopUtilization(),
        wall: performance.now(),
      };
      return true;
    },
    stats: () => {
      countGc(gcObserver.takeRecords());
      const cpu = process.cpuUsage(mark.cpu);
      const elu = performance.eventLoopUtilization(mark.elu);
      return {
        ...counters,
        clients: engine.clientsCount,
        cpuMicros: cpu.user + cpu.system,
        systemMicros: cpu.system,
        mainThreadMicros: mainThreadMicros() - mark.mainThread,
        wallMicros: (performance.now() - mark.wall) * 1000,
        busy: elu.utilization,
        gcMicros,
        gcMajorMicros,
        gcCount,
      };
    },
    cookies: ({ from = 0, to = cookies.length } = {}) => cookies.slice(from, to),
    closeAll: () => closeAll(engine),
    memory: () => collect(),
    /** The heap size of one session record (what a socket keeps), measured on 2,000 copies. */
    recordHeapBytes: async () => {
      const copies = new Array(2_000);
      const before = (await collect()).heapUsed;
      for (let i = 0; i < copies.length; i++) copies[i] = structuredClone(record);
      const after = (await collect()).heapUsed;
      const bytes = (after - before) / copies.length - 8; // minus the array slot
      copies.length = 0;
      return bytes;
    },
    /**
     * The sampling allocation profiler, collected objects included (what a GC has to deal with,
     * unlike --heap-prof, which keeps only what is still alive at exit). For bench/profile.mjs.
     */
    startAllocations: ({ interval = 2048 } = {}) => {
      inspector ??= new InspectorSession();
      inspector.connect?.();
      return new Promise((resolve, reject) =>
        inspector.post(
          "HeapProfiler.startSampling",
          {
            samplingInterval: interval,
            includeObjectsCollectedByMajorGC: true,
            includeObjectsCollectedByMinorGC: true,
          },
          (error) => (error ? reject(error) : resolve(true)),
        ),
      );
    },
    stopAllocations: ({ file }) =>
      new Promise((resolve, reject) =>
        inspector.post("HeapProfiler.stopSampling", (error, result) => {
          if (error) reject(error);
          else {
            writeFileSync(file, JSON.stringify(result.profile));
            resolve(file);
          }
        }),
      ),
    heapSnapshot: async ({ file }) => {
      await collect();
      return v8.writeHeapSnapshot(file);
    },
  };
  serveOrchestrator(handlers, {
    port,
    path: io ? "/socket.io/" : "/engine.io/",
    io,
    sessions: cookies.length,
    recordJsonLength: JSON.stringify(record).length,
  });
}

main().catch((error) => {
  process.stderr.write(`[server ${variant}] ${String(error?.stack ?? error)}\n`);
  process.exit(1);
});
