"use strict";
/* global require, __dirname, process, console, setTimeout, URL -- Node (CommonJS) */
/* eslint-disable @typescript-eslint/no-require-imports -- a plain CommonJS demo */
// engine.io-session demo: an Express app with express-session, and a SessionServer next to it that
// knows the session of every socket. Run it with `npm start`, then open http://localhost:3000 in two
// tabs (and a private window for a second user).
//
//   PORT=8080 npm start      listen elsewhere (PORT=0 picks a free port and prints it)
//   DEBUG=engine.io-session  explains every handshake that found no session
//   REDIS_URL=redis://127.0.0.1:6379 npm start
//                            sessions in Redis (connect-redis) and a RedisSessionBus: run it twice
//                            on two ports, and a logout on one ends the tabs of the other:
//     REDIS_URL=redis://127.0.0.1:6379 PORT=3000 node examples/server.js
//     REDIS_URL=redis://127.0.0.1:6379 PORT=3001 node examples/server.js

const http = require("node:http");
const path = require("node:path");
const express = require("express");
const session = require("express-session");
// The library itself (its built dist/). In your app: require("engine.io-session").
const { SessionServer } = require("..");

const port = Number(process.env.PORT ?? 3000);
// Which process served a socket: shown on the page, so tabs on two nodes tell themselves apart.
const nodeId = `${require("node:os").hostname()}:${process.pid}`;
let nodeLabel = `port ${port}`;
const secret = process.env.SESSION_SECRET ?? "engine.io-session demo secret";

// The session store, shared by express-session (HTTP) and SessionServer (sockets). By default the
// demo embeds express-session's MemoryStore: one process, sessions lost on restart. With REDIS_URL,
// sessions live in Redis (connect-redis), and a RedisSessionBus carries logouts and updates to every
// process of the demo. Any express-session store works the same way: pass it to both.
const redisUrl = process.env.REDIS_URL;
let redis; // the node-redis client, with REDIS_URL only
let tabsSubscriber; // its duplicate, subscribed to the demo's own tab-count channel
let store;
let bus;
if (redisUrl) {
  const { createClient } = require("redis");
  const { RedisStore } = require("connect-redis");
  // In your app: require("engine.io-session/redis").
  const { RedisSessionBus } = require("../dist/redis.js");
  redis = createClient({ url: redisUrl });
  // node-redis reconnects by itself; without an "error" listener a lost connection crashes.
  redis.on("error", (error) => console.warn(`redis: ${error.message}`));
  store = new RedisStore({ client: redis, prefix: "engine.io-session-demo:" });
  bus = new RedisSessionBus(redis);
  // The URL may hold a password: print its host only.
  console.log(
    `session store: Redis at ${new URL(redisUrl).host} (connect-redis), bus: RedisSessionBus`,
  );
} else {
  store = new session.MemoryStore();
  console.log("session store: MemoryStore (this process only; set REDIS_URL to use Redis)");
}

const app = express();
app.disable("x-powered-by");
app.use(
  session({
    store,
    secret,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: "lax", maxAge: 24 * 60 * 60 * 1000 },
  }),
);
app.use(express.urlencoded({ extended: false }));
app.use(express.json());

const httpServer = http.createServer(app);

// Same store, secret (and cookie name) as express-session. `origins` defaults to "same-origin":
// only pages served from this host may open a socket with the session cookie.
const server = new SessionServer(httpServer, {
  store,
  secret,
  bus, // undefined without REDIS_URL: one process
  // Keep sessions alive in the store while a tab is open, even without HTTP requests.
  touchInterval: 60_000,
  // Notice sessions changed or ended over HTTP (or expired) within 5 s.
  revalidateInterval: 5_000,
});

// ---- HTTP ----------------------------------------------------------------------------------------

app.get("/vendor/engine.io.min.js", (req, res) => {
  // engine.io-client's browser bundle, straight from the installed package: no CDN.
  res.sendFile(require.resolve("engine.io-client/dist/engine.io.min.js"));
});

app.use(express.static(path.join(__dirname, "public")));

/** Who is logged in, read over HTTP: what the page shows before (or without) its socket. */
app.get("/api/me", (req, res) => {
  const user = req.session.user;
  if (user === undefined) {
    res.status(401).json({ error: "not logged in" });
    return;
  }
  res.json({ name: user.name, counter: req.session.counter ?? 0 });
});

app.post("/login", (req, res, next) => {
  const name = String(req.body.name ?? "")
    .trim()
    .slice(0, 40);
  if (name === "") {
    res.redirect(303, "/");
    return;
  }
  // A new session id at login (no session fixation), then the user and a counter in it.
  req.session.regenerate((error) => {
    if (error) {
      next(error);
      return;
    }
    req.session.user = { name };
    req.session.counter = 0;
    req.session.save((saveError) => {
      if (saveError) next(saveError);
      else res.redirect(303, "/");
    });
  });
});

/** Logout everywhere: deletes the session and ends every socket of it, in every tab. */
app.post("/logout", async (req, res, next) => {
  try {
    const closed = await server.destroySession(req.sessionID);
    req.session = null; // already gone from the store: nothing for express-session to save
    res.clearCookie("connect.sid", { path: "/" });
    res.json({ closed });
  } catch (error) {
    next(error);
  }
});

// ---- Sockets -------------------------------------------------------------------------------------

function send(socket, message) {
  socket.send(JSON.stringify(message));
}

/** Tells this node's tabs of a session how many tabs it has open (on every node). */
function tellTabs(sessionId, tabs) {
  for (const each of server.socketsOf(sessionId)) send(each, { type: "tabs", tabs });
}

// With Redis, tabs of one user may sit on several processes: each process keeps its own count of a
// session's sockets in a Redis hash (one field per process) and says so on a channel; every process
// then tells its own sockets of that session the total. Not part of the library: the demo's own.
const TABS_CHANNEL = "engine.io-session-demo:tabs";
const tabsKey = (sessionId) => `engine.io-session-demo:tabs:${sessionId}`;

async function totalTabs(sessionId) {
  const counts = await redis.hVals(tabsKey(sessionId));
  return counts.reduce((sum, count) => sum + Number(count), 0);
}

/** A socket of the session opened or closed here. */
function announceTabs(sessionId) {
  const local = server.socketsOf(sessionId).length;
  if (!redis) {
    tellTabs(sessionId, local);
    return;
  }
  const key = tabsKey(sessionId);
  const write =
    local === 0
      ? redis.hDel(key, nodeId)
      : redis.hSet(key, nodeId, String(local)).then(() => redis.expire(key, 24 * 60 * 60));
  write
    .then(() => redis.publish(TABS_CHANNEL, sessionId))
    .catch((error) => console.warn(`tab count: ${error.message}`));
}

server.on("session", (socket, data) => {
  send(socket, {
    type: "hello",
    name: data.user?.name ?? "(anonymous)",
    counter: data.counter ?? 0,
    transport: socket.transport,
    node: nodeLabel,
  });
  announceTabs(socket.sessionId);

  // polling → websocket: the same socket, a better transport.
  socket.conn.on("upgrade", () => {
    send(socket, { type: "transport", transport: socket.transport });
  });

  socket.on("message", (raw) => {
    let message;
    try {
      message = JSON.parse(String(raw));
    } catch {
      return;
    }
    if (message.type === "inc") {
      // Read-modify-write of the stored session, serialized per session: two tabs clicking at
      // once never lose a click. Every socket of the session then gets `session_update`.
      socket
        .updateSession((record) => {
          record.counter = (record.counter ?? 0) + 1;
        })
        .catch((error) => {
          console.warn("counter update failed:", error.code ?? error);
          send(socket, { type: "error", message: "could not save the counter" });
        });
    }
  });

  // The session changed (a click in any tab, or an HTTP request): push the new counter.
  socket.on("session_update", (updated) => {
    send(socket, { type: "counter", counter: updated.counter ?? 0 });
  });

  // Logout (destroySession), expiry, or closeSession: say why, just before the socket closes.
  socket.on("session_end", (reason) => {
    send(socket, { type: "session_end", reason });
  });

  socket.on("close", () => {
    announceTabs(socket.sessionId);
  });
});

server.on("session_error", (error) => {
  // Why a handshake had no usable session (refused: `required` defaults to true). Rare here: the
  // page asks /api/me first. DEBUG=engine.io-session tells more.
  console.warn(`socket refused: ${error.code}: ${error.message}`);
});

// ---- Start and stop ------------------------------------------------------------------------------

async function start() {
  // The bus subscribes on its own connection; the store and the bus publish on this one.
  if (redis) {
    await redis.connect();
    tabsSubscriber = redis.duplicate();
    tabsSubscriber.on("error", () => undefined); // reconnects by itself, like `redis`
    await tabsSubscriber.connect();
    await tabsSubscriber.subscribe(TABS_CHANNEL, (sessionId) => {
      if (server.socketsOf(sessionId).length === 0) return;
      totalTabs(sessionId).then(
        (tabs) => tellTabs(sessionId, tabs),
        (error) => console.warn(`tab count: ${error.message}`),
      );
    });
  }
  httpServer.listen(port, () => {
    const address = httpServer.address();
    nodeLabel = `port ${address.port}`;
    console.log(`engine.io-session demo listening on http://localhost:${address.port}`);
  });
}
start().catch((error) => {
  console.error(`cannot start: ${error.message}`);
  process.exit(1);
});

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping`);
  server.close(); // closes every socket, stops the session timers and unsubscribes the bus
  if (tabsSubscriber?.isOpen) tabsSubscriber.destroy();
  httpServer.close(() => {
    // The bus leaves the app's client open: close it last.
    if (redis?.isOpen) redis.close().finally(() => process.exit(0));
    else process.exit(0);
  });
  httpServer.closeAllConnections();
  setTimeout(() => process.exit(1), 3000).unref();
}
process.on("SIGINT", () => stop("SIGINT"));
process.on("SIGTERM", () => stop("SIGTERM"));
