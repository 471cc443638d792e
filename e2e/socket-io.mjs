// socket.io in real Chromium (issue 14): an Express + express-session app with createSessionIo from
// the built package (engine.io-session/socket.io), and pages that load the client bundle the server
// serves at /socket.io/socket.io.js. A logged-in page gets its session in every namespace, over
// polling + upgrade and websocket only; a logged-out page gets connect_error with err.data.code
// (NO_COOKIE, NOT_FOUND after a logout) and stops: socket.active is false and no further handshake
// reaches the server. Beside it, a plain SessionServer at /engine.io: engine.io-client in the page
// reads sessionErrorCode from a refused polling handshake (docs/socket-io.md's refusalCode), and
// gets no detail over websocket.
//
//   npm run build && node e2e/socket-io.mjs    (part of `npm run test:e2e`)
//   ENGINE_IO_SESSION_DIST=/path/to/dist       another build of the package (default ./dist)
//   CHROMIUM=/path/to/chrome                   another browser binary (default /usr/bin/chromium)
//   SOCKET_IO_E2E_PORT=25810                   the port (127.0.0.1 only)
//
// Bounded: every wait has a timeout, the whole run stops after 60 s. Exits non-zero on failure.

/* global process, console, setTimeout, window, io, XMLHttpRequest -- Node, and the pages in evaluate() */

import http from "node:http";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import express from "express";
import session from "express-session";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = resolve(process.env.ENGINE_IO_SESSION_DIST ?? join(root, "dist"));
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const port = Number(process.env.SOCKET_IO_E2E_PORT ?? 25810);
const OVERALL_MS = 60_000;
const WAIT_MS = 10_000;
/** Long enough for several of socket.io-client's reconnection attempts (set to 100 ms below). */
const NO_RETRY_MS = 1_500;

const require = createRequire(import.meta.url);
const { createSessionIo } = require(join(dist, "socket-io.js"));
const { SessionServer } = require(join(dist, "index.js"));
const engineClientBundle = join(root, "node_modules", "engine.io-client", "dist", "engine.io.js");

const results = [];
let browser;
let httpServer;
let ioServer;
let plainEngine;

async function check(name, body) {
  const t0 = Date.now();
  try {
    await body();
    results.push(true);
    console.log(`  ok    ${name} (${Date.now() - t0} ms)`);
  } catch (error) {
    results.push(false);
    console.log(
      `  FAIL  ${name} (${Date.now() - t0} ms)\n        ${String(error?.message ?? error)}`,
    );
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const delay = (ms) => new Promise((done) => setTimeout(done, ms));

/** The app: login/logout over HTTP, a page that loads the served bundle, createSessionIo. */
function startApp() {
  const settings = { store: new session.MemoryStore(), secret: "e2e socket.io secret" };
  const app = express();
  app.use(session({ ...settings, resave: false, saveUninitialized: false }));
  app.get("/login", (req, res) => {
    req.session.user = { name: String(req.query.name ?? "ada") };
    res.type("text").send(`logged in as ${req.session.user.name}`);
  });
  app.get("/logout", (req, res) => {
    req.session.destroy(() => res.type("text").send("logged out"));
  });
  app.get("/", (_req, res) => {
    res.type("html").send('<!doctype html><script src="/socket.io/socket.io.js"></script>');
  });
  app.get("/plain", (_req, res) => {
    res.type("html").send('<!doctype html><script src="/engine.io.js"></script>');
  });
  app.get("/engine.io.js", (_req, res) => res.sendFile(engineClientBundle));
  httpServer = http.createServer(app);
  ioServer = createSessionIo(httpServer, { session: settings });
  // A plain engine.io SessionServer beside it (path /engine.io), for engine.io-client's view.
  plainEngine = new SessionServer(httpServer, { session: settings });
  const handshakes = { refused: [] };
  ioServer.engine.on("session_error", (error) => handshakes.refused.push(error.code));
  const hello = (socket) => {
    const { session } = ioServer.sessionOf(socket);
    socket.emit("hello", `${socket.nsp.name} ${session.user?.name ?? "?"}`);
  };
  ioServer.on("connection", hello);
  ioServer.of("/admin").on("connection", hello);
  return new Promise((done) => httpServer.listen(port, "127.0.0.1", () => done(handshakes)));
}

/** In the page: connect every namespace, resolve what each saw first. */
function connectInPage({ namespaces, options }) {
  return Promise.all(
    namespaces.map(
      (nsp) =>
        new Promise((done) => {
          const socket = io(nsp, { reconnectionDelay: 100, reconnectionDelayMax: 100, ...options });
          window.sockets = [...(window.sockets ?? []), socket];
          socket.on("hello", (text) => done({ kind: "hello", text }));
          socket.on("connect_error", (error) =>
            done({
              kind: "connect_error",
              message: error.message,
              code: error.data?.code ?? null,
              active: socket.active,
            }),
          );
        }),
    ),
  );
}

/** In the page: docs/socket-io.md's refusalCode() on engine.io-client's first error. */
function plainRefusalInPage({ transports }) {
  function refusalCode(err) {
    const context = typeof err === "object" && "context" in err ? err.context : undefined;
    if (!(context instanceof XMLHttpRequest) || context.status !== 403) return undefined;
    try {
      const body = JSON.parse(context.responseText);
      if (typeof body !== "object" || body === null || !("sessionErrorCode" in body))
        return undefined;
      return String(body.sessionErrorCode);
    } catch {
      return undefined;
    }
  }
  return new Promise((done) => {
    const Socket = window.eio.Socket ?? window.eio;
    const socket = new Socket("/", { transports });
    socket.on("open", () => done({ kind: "open" }));
    socket.on("error", (err) =>
      done({ kind: "error", message: String(err?.message ?? err), code: refusalCode(err) ?? null }),
    );
  });
}

async function run() {
  assert(existsSync(executablePath), `no browser at ${executablePath}: apt-get install chromium`);
  assert(existsSync(join(dist, "socket-io.js")), `no ${dist}/socket-io.js: npm run build first`);
  const handshakes = await startApp();
  const url = `http://127.0.0.1:${port}`;
  console.log(`e2e socket.io: app at ${url}, browser ${executablePath}`);
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });

  const page = async () => {
    const context = await browser.newContext();
    context.setDefaultTimeout(WAIT_MS);
    const tab = await context.newPage();
    await tab.goto(`${url}/`);
    return tab;
  };

  await check("the page loads the client bundle the server serves", async () => {
    const tab = await page();
    const kind = await tab.evaluate(() => `${typeof io}/${typeof io.Manager}`);
    assert(kind === "function/function", `window.io is ${kind}, want the socket.io client`);
    await tab.context().close();
  });

  for (const [mode, options] of [
    ["polling + upgrade", {}],
    ["websocket", { transports: ["websocket"] }],
  ]) {
    await check(`${mode}: a logged-in page gets its session in / and /admin`, async () => {
      const tab = await page();
      await tab.goto(`${url}/login?name=ada`);
      await tab.goto(`${url}/`);
      const seen = await tab.evaluate(connectInPage, { namespaces: ["/", "/admin"], options });
      const texts = seen.map((each) => each.text ?? JSON.stringify(each));
      assert(texts.join() === "/ ada,/admin ada", `the page saw ${texts.join(" | ")}`);
      await tab.context().close();
    });

    await check(`${mode}: a logged-out page gets connect_error NO_COOKIE and stops`, async () => {
      const tab = await page();
      const before = handshakes.refused.length;
      const [seen] = await tab.evaluate(connectInPage, { namespaces: ["/"], options });
      assert(seen.kind === "connect_error", `the page saw ${JSON.stringify(seen)}`);
      assert(seen.code === "NO_COOKIE", `err.data.code is ${seen.code}`);
      assert(seen.message.includes("connect.sid"), `err.message is ${seen.message}`);
      assert(seen.active === false, "socket.active is still true");
      await delay(NO_RETRY_MS);
      const retries = handshakes.refused.length - before - 1;
      assert(retries === 0, `${retries} more handshakes after connect_error: the client retried`);
      const active = await tab.evaluate(() => window.sockets.map((s) => s.active));
      assert(
        active.every((each) => each === false),
        `socket.active later: ${active}`,
      );
      await tab.context().close();
    });
  }

  await check("after an HTTP logout the page gets NOT_FOUND in every namespace", async () => {
    const tab = await page();
    await tab.goto(`${url}/login?name=bob`);
    const cookies = await tab.context().cookies();
    await tab.goto(`${url}/logout`);
    await tab.context().addCookies(cookies); // the old cookie, its session gone from the store
    await tab.goto(`${url}/`);
    const seen = await tab.evaluate(connectInPage, { namespaces: ["/", "/admin"], options: {} });
    const codes = seen.map((each) => each.code);
    assert(codes.join() === "NOT_FOUND,NOT_FOUND", `the page saw ${JSON.stringify(seen)}`);
    assert(
      seen.every((each) => each.active === false),
      "a socket is still active",
    );
    await tab.context().close();
  });

  await check("engine.io-client on polling reads sessionErrorCode from the 403 body", async () => {
    const tab = await page();
    await tab.goto(`${url}/plain`);
    const seen = await tab.evaluate(plainRefusalInPage, { transports: ["polling"] });
    assert(
      seen.kind === "error" && seen.code === "NO_COOKIE",
      `the page saw ${JSON.stringify(seen)}`,
    );
    await tab.context().close();
  });

  await check("engine.io-client on websocket gets no detail (the docs' limit holds)", async () => {
    const tab = await page();
    await tab.goto(`${url}/plain`);
    const seen = await tab.evaluate(plainRefusalInPage, { transports: ["websocket"] });
    assert(seen.kind === "error" && seen.code === null, `the page saw ${JSON.stringify(seen)}`);
    await tab.context().close();
  });

  await check("engine.io-client logged in: the same page opens", async () => {
    const tab = await page();
    await tab.goto(`${url}/login?name=eve`);
    await tab.goto(`${url}/plain`);
    const seen = await tab.evaluate(plainRefusalInPage, { transports: ["polling", "websocket"] });
    assert(seen.kind === "open", `the page saw ${JSON.stringify(seen)}`);
    await tab.context().close();
  });

  await check("no socket.io socket is left once the pages are closed", async () => {
    const sockets =
      (await ioServer.fetchSockets()).length + (await ioServer.of("/admin").fetchSockets()).length;
    assert(sockets === 0, `${sockets} socket.io sockets still open (the logged-in tabs closed)`);
  });
}

async function finish() {
  if (browser !== undefined) await Promise.race([browser.close().catch(() => {}), delay(5000)]);
  plainEngine?.close();
  if (ioServer !== undefined) await Promise.race([ioServer.close(), delay(3000)]);
  const passed = results.filter(Boolean).length;
  const failed = results.length - passed;
  console.log(`e2e socket.io: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || results.length === 0 ? 1 : 0);
}

const overall = setTimeout(() => {
  console.log(`  FAIL  the run took longer than ${OVERALL_MS / 1000} s`);
  results.push(false);
  void finish();
}, OVERALL_MS);
overall.unref();

try {
  await run();
} catch (error) {
  console.log(`  FAIL  ${String(error?.stack ?? error)}`);
  results.push(false);
}
await finish();
