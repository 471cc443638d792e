// The figures of docs/comparison.md: this library (createSessionIo) against socket.io's documented
// `io.engine.use(sessionMiddleware)` recipe and express-socket.io-session, each one a socket.io app
// with the same two handlers (whoami, increment), the same express-session and the same store.
//
//   npm run build && node scripts/comparison.mjs           prints the tables (markdown)
//   COMPARISON_PORT=25820                                   first of the ports used (+0..+3)
//   CHROMIUM=/path/to/chrome                                the browser for the hijacking row
//
// Measured:
//   1. store reads (get) and writes (set, touch) per connection: 5 socket.io-client connections
//      ("tabs") of one session, opened at once, polling then upgrade as a browser does, each
//      sending 10 events; and the same 5 opened one after another.
//   2. lost increments: 3 connections of one session each send 100 increments at once (300 in
//      all); the counter in the store afterwards, over a MemoryStore whose calls take 1 ms.
//   3. cross-site WebSocket hijacking, in Chromium: the victim logs in on localhost:<port>, then
//      opens a page of another origin that loads the served socket.io client and asks whoami over
//      websocket; both a same-site page (localhost, another port) and a cross-site one (127.0.0.1).
// Everything runs on 127.0.0.1 and stops by itself (90 s at most).

/* global process, console, setTimeout, clearTimeout, fetch, io -- Node, and the page */

import http from "node:http";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import express from "express";
import session from "express-session";
import sharedsession from "express-socket.io-session";
import { Server as IoServer } from "socket.io";
import { io as ioClient } from "socket.io-client";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const { createSessionIo } = require(join(root, "dist", "socket-io.js"));
const basePort = Number(process.env.COMPARISON_PORT ?? 25820);
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const SECRET = "comparison secret";

const overall = setTimeout(() => {
  console.error("comparison: took longer than 90 s");
  process.exit(1);
}, 90_000);
overall.unref();

const delay = (ms) => new Promise((done) => setTimeout(done, ms));

/** A MemoryStore that counts its calls, optionally answering each after `latency` ms. */
function countingStore(latency = 0) {
  const store = new session.MemoryStore();
  const counts = { get: 0, set: 0, touch: 0 };
  for (const method of ["get", "set", "touch"]) {
    const original = store[method].bind(store);
    store[method] = (...args) => {
      counts[method]++;
      const callback = args.at(-1);
      const late = (...result) => setTimeout(() => callback(...result), latency);
      original(...args.slice(0, -1), latency > 0 ? late : callback);
    };
  }
  return { store, counts };
}

/** This library, as docs/socket-io.md shows it. */
function ours(httpServer, options) {
  const io = createSessionIo(httpServer, { ...options, secret: SECRET });
  io.on("connection", (socket) => {
    const sessionSocket = io.sessionOf(socket);
    socket.on("whoami", (ack) => ack(sessionSocket.session.user?.name ?? null));
    socket.on("increment", (ack) => {
      sessionSocket
        .updateSession((record) => {
          record.counter = (record.counter ?? 0) + 1;
        })
        .then(
          () => ack(true),
          () => ack(false),
        );
    });
  });
  return io;
}

/** socket.io's recipe: express-session on engine.io's requests, reload + change + save. */
function recipe(httpServer, middleware) {
  const io = new IoServer(httpServer);
  io.engine.use(middleware);
  io.on("connection", (socket) => {
    const req = socket.request;
    socket.on("whoami", (ack) => ack(req.session.user?.name ?? null));
    socket.on("increment", (ack) => {
      req.session.reload((error) => {
        if (error) return ack(false);
        req.session.counter = (req.session.counter ?? 0) + 1;
        req.session.save(() => ack(true));
      });
    });
  });
  return io;
}

/** The three ways to the session, each as its own documentation shows it. */
const VARIANTS = {
  "engine.io-session": (httpServer, sessionMiddleware, store) => ours(httpServer, { store }),
  "engine.io-session, coalesceWindow: 1000": (httpServer, sessionMiddleware, store) =>
    ours(httpServer, { store, coalesceWindow: 1000 }),
  // https://socket.io/how-to/use-with-express-session: io.engine.use, then reload + save.
  "socket.io recipe (io.engine.use)": (httpServer, sessionMiddleware) =>
    recipe(httpServer, sessionMiddleware),
  // The same, the middleware only on handshakes (the onlyForHandshake wrapper of socket.io's guides).
  "socket.io recipe, onlyForHandshake": (httpServer, sessionMiddleware) =>
    recipe(httpServer, (req, res, next) => {
      if (req._query.sid === undefined) sessionMiddleware(req, res, next);
      else next();
    }),
  // Its README: io.use(sharedsession(session)), then socket.handshake.session, save().
  "express-socket.io-session": (httpServer, sessionMiddleware) => {
    const io = new IoServer(httpServer);
    io.use(sharedsession(sessionMiddleware));
    io.on("connection", (socket) => {
      socket.on("whoami", (ack) => ack(socket.handshake.session.user?.name ?? null));
      socket.on("increment", (ack) => {
        socket.handshake.session.counter = (socket.handshake.session.counter ?? 0) + 1;
        socket.handshake.session.save(() => ack(true));
      });
    });
    return io;
  },
};

/** Starts one variant: Express + express-session + the variant's socket.io server. */
async function start(variant, port, latency) {
  const { store, counts } = countingStore(latency);
  const sessionMiddleware = session({
    store,
    secret: SECRET,
    resave: false,
    saveUninitialized: false,
  });
  const app = express();
  app.use(sessionMiddleware);
  app.get("/login", (req, res) => {
    req.session.user = { name: String(req.query.name ?? "ada") };
    res.send("ok");
  });
  app.get("/counter", (req, res) => res.json(req.session.counter ?? 0));
  const httpServer = http.createServer(app);
  const io = VARIANTS[variant](httpServer, sessionMiddleware, store);
  await new Promise((done) => httpServer.listen(port, "127.0.0.1", done));
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    counts,
    store,
    async login(name) {
      const res = await fetch(`${url}/login?name=${name}`);
      return res.headers.getSetCookie()[0].split(";")[0];
    },
    async close() {
      httpServer.closeAllConnections();
      await Promise.race([io.close(), delay(2000)]);
    },
  };
}

function connect(url, cookie) {
  const socket = ioClient(url, { forceNew: true, reconnection: false, extraHeaders: { cookie } });
  return new Promise((done, fail) => {
    socket.once("connect", () => done(socket));
    socket.once("connect_error", fail);
  });
}

function upgraded(socket) {
  if (socket.io.engine.transport.name === "websocket") return Promise.resolve();
  return new Promise((done) => socket.io.engine.once("upgrade", done));
}

/** 1. Store calls per connection, 5 tabs at once and one after another. */
async function storeCalls(variant, port) {
  const rows = {};
  for (const [how, latency] of [
    ["at once", 0],
    ["one after another", 0],
    ["at once, 1 ms store", 1],
  ]) {
    const app = await start(variant, port, latency);
    const cookie = await app.login("ada");
    const before = { ...app.counts };
    let sockets;
    if (how === "at once") {
      sockets = await Promise.all(Array.from({ length: 5 }, () => connect(app.url, cookie)));
    } else {
      sockets = [];
      for (let i = 0; i < 5; i++) sockets.push(await connect(app.url, cookie));
    }
    await Promise.all(sockets.map(upgraded));
    for (let i = 0; i < 10; i++) {
      await Promise.all(sockets.map((socket) => socket.emitWithAck("whoami")));
    }
    const after = app.counts;
    rows[how] = {
      reads: (after.get - before.get) / 5,
      writes: (after.set + after.touch - before.set - before.touch) / 5,
    };
    for (const socket of sockets) socket.disconnect();
    await app.close();
  }
  return rows;
}

/** 2. 3 connections x 100 concurrent increments: what the store holds afterwards. */
async function increments(variant, port) {
  const app = await start(variant, port, 1);
  const cookie = await app.login("ada");
  const sockets = await Promise.all(Array.from({ length: 3 }, () => connect(app.url, cookie)));
  await Promise.all(sockets.map(upgraded));
  const acks = await Promise.all(
    sockets.flatMap((socket) =>
      Array.from({ length: 100 }, () => socket.timeout(20_000).emitWithAck("increment")),
    ),
  );
  const counter = await (await fetch(`${app.url}/counter`, { headers: { cookie } })).json();
  for (const socket of sockets) socket.disconnect();
  await app.close();
  return { acked: acks.filter(Boolean).length, counter };
}

/** 3. Can a page of another origin use the victim's cookie for a socket? */
async function hijacking(browser, variant, port) {
  const victim = await start(variant, port, 0);
  const victimOrigin = `http://localhost:${port}`;
  const attacker = http.createServer((_req, res) => {
    res.setHeader("content-type", "text/html");
    res.end(`<!doctype html><script src="${victimOrigin}/socket.io/socket.io.js"></script>`);
  });
  await new Promise((done) => attacker.listen(port + 10, "127.0.0.1", done));
  const rows = {};
  try {
    for (const [where, origin] of [
      ["same site (localhost, another port)", `http://localhost:${port + 10}`],
      ["cross site (127.0.0.1)", `http://127.0.0.1:${port + 10}`],
    ]) {
      const context = await browser.newContext();
      context.setDefaultTimeout(10_000);
      const page = await context.newPage();
      await page.goto(`${victimOrigin}/login?name=victim`);
      await page.goto(`${origin}/`);
      rows[where] = await page.evaluate(
        (target) =>
          new Promise((done) => {
            const socket = io(target, { transports: ["websocket"], reconnection: false });
            const timer = setTimeout(() => done("no answer"), 5000);
            socket.on("connect", () => {
              socket.emit("whoami", (name) => {
                clearTimeout(timer);
                done(name === null ? "a socket, without the session" : `socket as "${name}"`);
              });
            });
            socket.on("connect_error", (error) => {
              clearTimeout(timer);
              done(`refused (${error.data?.code ?? error.message})`);
            });
          }),
        victimOrigin,
      );
      await context.close();
    }
  } finally {
    attacker.closeAllConnections();
    await new Promise((done) => attacker.close(done));
    await victim.close();
  }
  return rows;
}

const names = Object.keys(VARIANTS);
const figures = {};
for (const [index, variant] of names.entries()) {
  const port = basePort + index;
  figures[variant] = {
    store: await storeCalls(variant, port),
    increments: await increments(variant, port),
  };
}
if (existsSync(executablePath)) {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
  try {
    for (const [index, variant] of names.entries()) {
      figures[variant].hijack = await hijacking(browser, variant, basePort + index);
    }
  } finally {
    await browser.close();
  }
} else {
  console.log(`(no browser at ${executablePath}: the hijacking rows are left out)`);
}

const row = (cells) => `| ${cells.join(" | ")} |`;
console.log(
  `\nnode ${process.version}, socket.io ${require("socket.io/package.json").version}, ` +
    `express-session ${require("express-session/package.json").version}, ` +
    `express-socket.io-session ${require("express-socket.io-session/package.json").version}\n`,
);
console.log(row(["", ...names]));
console.log(row(["---", ...names.map(() => "---")]));
for (const how of ["at once", "one after another", "at once, 1 ms store"]) {
  console.log(
    row([
      `store reads per connection, 5 tabs ${how}`,
      ...names.map((n) => figures[n].store[how].reads),
    ]),
  );
  console.log(
    row([
      `store writes per connection, 5 tabs ${how}`,
      ...names.map((n) => figures[n].store[how].writes),
    ]),
  );
}
console.log(
  row([
    "counter after 3 × 100 concurrent increments (of 300)",
    ...names.map((n) => figures[n].increments.counter),
  ]),
);
console.log(
  row(["increments acknowledged as saved", ...names.map((n) => figures[n].increments.acked)]),
);
for (const where of Object.keys(figures[names[0]].hijack ?? {})) {
  console.log(
    row([`page of another origin, ${where}`, ...names.map((n) => figures[n].hijack[where])]),
  );
}
process.exit(0);
