// Cross-site socket hijacking in real Chromium (issue 12): a victim app (Express + express-session +
// SessionServer, from the built package) with a logged-in user, and attacker pages on another port
// of the same host (same site: SameSite=Lax cookies ride along) and on another site, that try every
// request a page can make to open a socket with the victim's session. For each one: no `session`
// for the victim, a `session_error` BAD_ORIGIN, nothing readable by the attacker. Controls: the
// victim's own page (engine.io-client) gets its session over polling and websocket, and a Node
// client without Origin or Fetch Metadata keeps working.
//
//   npm run build && node e2e/attacks.mjs      (part of `npm run test:e2e`)
//   ENGINE_IO_SESSION_DIST=/path/to/dist       another build of the package (default ./dist)
//   CHROMIUM=/path/to/chrome                   another browser binary (default /usr/bin/chromium)
//   ATTACKS_PORT=25510                         first of the three ports used (+0, +1, +10)
//
// Names: the victim is on localhost, the other site is 127.0.0.1 (both potentially trustworthy, so
// Chromium sends Fetch Metadata as it does over HTTPS); victim.test and evil.test (mapped to
// 127.0.0.1 by --host-resolver-rules) are plain HTTP, where Chromium sends none. Everything talks
// to 127.0.0.1 only. Bounded: every wait has a timeout, the whole run stops after
// 120 s. Exits non-zero when any check fails, after running them all and printing the matrix.

/* global process, console, setTimeout, clearTimeout, window, document -- Node, and the pages in waitForFunction */

import http from "node:http";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import express from "express";
import session from "express-session";
import { Socket as NodeClient } from "engine.io-client";
import { chromium } from "playwright-core";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const distDir = resolve(process.env.ENGINE_IO_SESSION_DIST ?? join(root, "dist"));
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const BASE_PORT = Number(process.env.ATTACKS_PORT ?? 25510);
const BUNDLE = require.resolve("engine.io-client/dist/engine.io.min.js");

const OVERALL_MS = 120_000;
const WAIT_MS = 8_000;
/** After an attack's first server event: time for stray ones (a second request, a late session). */
const SETTLE_MS = 250;
const SECRET = "attacks e2e secret";
const USER = "ada";

const started = Date.now();
const results = [];
const cleanups = [];
let finished = false;

// ---- tiny harness --------------------------------------------------------------------------------

const delay = (ms) => new Promise((resolveDelay) => setTimeout(resolveDelay, ms));

function describe(error) {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n").slice(0, 6).join("\n        ");
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function check(name, body) {
  const t0 = Date.now();
  try {
    const note = await body();
    results.push({ name, ok: true });
    console.log(`  ok    ${name} (${Date.now() - t0} ms)${note ? ` ${note}` : ""}`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`  FAIL  ${name} (${Date.now() - t0} ms)\n        ${describe(error)}`);
  }
}

/** Polls `condition` every 20 ms; resolves with whether it held within `ms`. */
async function until(condition, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (condition()) return true;
    await delay(20);
  }
  return condition();
}

function listen(httpServer, port) {
  return new Promise((resolveListen, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(port, "127.0.0.1", () => {
      httpServer.off("error", reject);
      resolveListen();
    });
  });
}

function closeServer(httpServer) {
  httpServer.closeAllConnections();
  return new Promise((resolveClose) => httpServer.close(() => resolveClose()));
}

// ---- the victim ----------------------------------------------------------------------------------

/** The victim's own page: engine.io-client from the victim's origin, as the app would ship it. */
const CONTROL_PAGE = `<!doctype html><meta charset="utf-8"><title>victim</title>
<p id="status">connecting</p><p id="message"></p><p id="transport"></p>
<script src="/eio.js"></script>
<script>
  const params = new URLSearchParams(location.search);
  const transports = params.get("transports") === "websocket" ? ["websocket"] : ["polling", "websocket"];
  const socket = eio(location.origin, { transports });
  const show = (id, text) => { document.getElementById(id).textContent = text; };
  socket.on("open", () => show("status", "open"));
  socket.on("message", (data) => show("message", String(data)));
  socket.on("upgrade", () => show("transport", socket.transport.name));
  socket.on("close", (reason) => show("status", "closed: " + reason));
  socket.on("error", (error) => show("status", "error: " + error));
  window.addEventListener("load", () => show("transport", socket.transport ? socket.transport.name : ""));
</script>`;

/**
 * Starts a victim app on `port`: express-session with `cookie` (and its own cookie `name`, since
 * cookies do not tell ports apart), and SessionServer with its defaults (`origins: "same-origin"`).
 */
async function startVictim({ label, port, name, cookie }) {
  const { SessionServer } = require(join(distDir, "index.js"));
  const store = new session.MemoryStore();
  const app = express();
  app.use(
    session({
      store,
      secret: SECRET,
      name,
      resave: false,
      saveUninitialized: false,
      ...(cookie === undefined ? {} : { cookie }),
    }),
  );
  app.get("/login", (req, res) => {
    req.session.user = { name: USER };
    res.type("html").send('<p id="done">logged in</p>');
  });
  app.get("/eio.js", (req, res) => res.sendFile(BUNDLE));
  app.get("/", (req, res) => res.type("html").send(CONTROL_PAGE));
  const httpServer = http.createServer(app);
  const server = new SessionServer(httpServer, { store, secret: SECRET, name });
  const events = { sessions: [], errors: [], messages: [], connections: 0 };
  server.on("connection", () => {
    events.connections += 1;
  });
  server.on("session", (socket, value) => {
    events.sessions.push({ user: value.user?.name, origin: socket.request.headers.origin });
    socket.send(`hello ${value.user?.name ?? "stranger"}`);
    socket.on("message", (data) => events.messages.push(String(data)));
  });
  server.on("session_error", (error, req) => {
    events.errors.push({
      code: error.code,
      message: error.message,
      cookie: (req.headers.cookie ?? "").includes(`${name}=`),
      site: req.headers["sec-fetch-site"],
      mode: req.headers["sec-fetch-mode"],
      dest: req.headers["sec-fetch-dest"],
      origin: req.headers.origin,
    });
  });
  await listen(httpServer, port);
  cleanups.push(async () => {
    server.close();
    await closeServer(httpServer);
  });
  return {
    label,
    name,
    server,
    events,
    url: `http://localhost:${port}`,
    port,
    reset() {
      for (const socket of Object.values(server.clients)) socket.close();
      events.sessions.length = 0;
      events.errors.length = 0;
      events.messages.length = 0;
      events.connections = 0;
    },
  };
}

// ---- the attacker --------------------------------------------------------------------------------

/**
 * The attacks, as page scripts. Each reports through `window.__result`: `done`, and `readable`, what
 * the page could read of the victim's answers (`null`: nothing).
 */
function attackScript(kind, victimUrl) {
  const base = `${victimUrl}/engine.io/?EIO=4&transport=polling`;
  const ws = `${victimUrl.replace("http:", "ws:")}/engine.io/?EIO=4&transport=websocket`;
  const prelude = `
    const H = ${JSON.stringify(base)};
    const result = (window.__result = { done: false, readable: null, detail: "" });
    const done = (detail) => { result.detail = detail; result.done = true; };
    const loadScript = (src) => new Promise((ok) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = () => ok("loaded");
      script.onerror = () => ok("error");
      document.body.append(script);
    });`;
  const bodies = {
    // The JSONP handshake: the answer is a script that calls ___eio[0] with the handshake packet.
    "script (JSONP handshake)": `
      window.___eio = [(data) => { result.readable = String(data); }];
      loadScript(H + "&j=0").then(done);`,
    // Read the sid through JSONP, post as the victim (no-cors POST), read the victim's first message.
    "JSONP read-and-post": `
      window.___eio = [(data) => { result.readable = String(data); }, (data) => { result.readable += " | " + String(data); }];
      (async () => {
        await loadScript(H + "&j=0");
        const sid = /"sid":"([^"]+)"/.exec(result.readable || "");
        if (!sid) return done("no sid");
        await fetch(H + "&j=0&sid=" + sid[1], {
          method: "POST", mode: "no-cors", credentials: "include",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: "d=" + encodeURIComponent("4posted by the attacker"),
        }).catch(() => {});
        await loadScript(H + "&j=1&sid=" + sid[1]);
        done("posted");
      })();`,
    img: `
      const img = new Image();
      img.onload = () => done("load");
      img.onerror = () => done("error");
      img.src = H;`,
    "fetch no-cors": `
      fetch(H, { mode: "no-cors", credentials: "include" })
        .then(async (res) => { const text = await res.text(); result.readable = text === "" ? null : text; done(res.type); })
        .catch((error) => done("rejected: " + error));`,
    "fetch cors with credentials": `
      fetch(H, { credentials: "include" })
        .then(async (res) => { result.readable = await res.text(); done(String(res.status)); })
        .catch((error) => done("rejected: " + error));`,
    iframe: `
      const frame = document.createElement("iframe");
      frame.onload = () => {
        try { result.readable = frame.contentDocument ? frame.contentDocument.body.innerText : null; }
        catch { result.readable = null; }
        done("load");
      };
      frame.src = H;
      document.body.append(frame);`,
    WebSocket: `
      const socket = new WebSocket(${JSON.stringify(ws)});
      socket.onmessage = (event) => { result.readable = String(event.data); };
      socket.onerror = () => done("error");
      socket.onclose = (event) => done("close " + event.code);`,
    // The navigation's answer is the victim's page now: readable by the user, never by the attacker.
    "top-level navigation": `location.href = H;`,
  };
  return `${prelude}\n${bodies[kind]}`;
}

const ATTACKS = [
  "script (JSONP handshake)",
  "JSONP read-and-post",
  "img",
  "fetch no-cors",
  "fetch cors with credentials",
  "top-level navigation",
  "iframe",
  "WebSocket",
];

async function startAttacker(port) {
  const app = express();
  app.get("/attack", (req, res) => {
    const kind = String(req.query.kind);
    const victim = String(req.query.victim);
    if (!ATTACKS.includes(kind)) return res.status(404).end();
    res
      .type("html")
      .send(
        `<!doctype html><meta charset="utf-8"><title>attacker</title><body><script>${attackScript(kind, victim)}</script></body>`,
      );
  });
  const httpServer = http.createServer(app);
  await listen(httpServer, port);
  cleanups.push(() => closeServer(httpServer));
}

// ---- the checks ----------------------------------------------------------------------------------

/**
 * One attack from `attackerOrigin` on the victim at `victimUrl`; returns the matrix row. A
 * `residual` attack is one the browser gives no signal for (no Origin, no Fetch Metadata: plain
 * HTTP to a host that is not localhost): it may open a socket, and only "nothing readable, nothing
 * posted" is asserted.
 */
async function attack(context, victim, victimUrl, attackerOrigin, kind, residual = false) {
  victim.reset();
  const page = await context.newPage();
  try {
    const url = `${attackerOrigin}/attack?kind=${encodeURIComponent(kind)}&victim=${encodeURIComponent(victimUrl)}`;
    await page.goto(url, { timeout: WAIT_MS });
    let result = { readable: null, detail: "" };
    if (kind === "top-level navigation") {
      await page.waitForURL(/\/engine\.io\//, { timeout: WAIT_MS });
      result.detail = "navigated";
    } else {
      await page.waitForFunction(() => window.__result?.done === true, null, { timeout: WAIT_MS });
      result = await page.evaluate(() => window.__result);
    }
    const { events } = victim;
    await until(() => events.errors.length > 0 || events.sessions.length > 0, WAIT_MS);
    await delay(SETTLE_MS);
    const first = events.errors[0];
    const row = {
      cookie: events.errors.some((e) => e.cookie) || events.sessions.length > 0 ? "yes" : "no",
      metadata:
        first === undefined
          ? ""
          : first.origin !== undefined
            ? `Origin ${first.origin}`
            : [first.site, first.mode, first.dest].map((v) => v ?? "-").join("/"),
      outcome:
        events.sessions.length > 0
          ? `session (${events.sessions.length})`
          : events.errors.map((e) => e.code).join(",") || "nothing",
    };
    const problems = [];
    if (result.readable !== null && result.readable !== "") {
      problems.push(`the attacker read ${JSON.stringify(result.readable)}`);
    }
    if (events.messages.length > 0) {
      problems.push(`messages reached the server: ${JSON.stringify(events.messages)}`);
    }
    if (!residual) {
      if (events.sessions.length > 0) {
        problems.push(`the victim got ${events.sessions.length} session(s)`);
      }
      if (events.connections > 0) problems.push(`${events.connections} socket(s) opened`);
      if (events.errors.length === 0 || events.errors.some((e) => e.code !== "BAD_ORIGIN")) {
        problems.push(
          `session_error codes: ${events.errors.map((e) => e.code).join(",") || "none"} (expected BAD_ORIGIN)`,
        );
      }
    }
    assert(problems.length === 0, problems.join("; "));
    return row;
  } finally {
    await page.close().catch(() => {});
  }
}

/** The victim's own page: a session over polling (then the upgrade), or over websocket only. */
async function control(context, victim, transports) {
  victim.reset();
  const page = await context.newPage();
  try {
    await page.goto(`${victim.url}/?transports=${transports}`, { timeout: WAIT_MS });
    await page.waitForFunction(
      (user) => document.getElementById("message")?.textContent === `hello ${user}`,
      USER,
      { timeout: WAIT_MS },
    );
    await page.waitForFunction(
      () => document.getElementById("transport")?.textContent === "websocket",
      null,
      { timeout: WAIT_MS },
    );
    assert(
      victim.events.sessions.length === 1 && victim.events.sessions[0].user === USER,
      `sessions: ${JSON.stringify(victim.events.sessions)}`,
    );
    // A same-origin GET carries no Origin (polling); a WebSocket handshake always does.
    const { origin } = victim.events.sessions[0];
    assert(origin === (transports === "websocket" ? victim.url : undefined), `Origin: ${origin}`);
    assert(victim.events.errors.length === 0, `errors: ${JSON.stringify(victim.events.errors)}`);
  } finally {
    await page.close().catch(() => {});
  }
}

/** A Node client (no Origin, no Fetch Metadata) with the browser's cookie: still a session. */
async function nodeClient(context, victim, transport) {
  victim.reset();
  const cookies = await context.cookies(victim.url);
  const cookie = cookies.find((c) => c.name === victim.name);
  assert(cookie !== undefined, `no ${victim.name} cookie in the browser`);
  const socket = new NodeClient(`http://127.0.0.1:${victim.port}`, {
    transports: [transport],
    extraHeaders: { cookie: `${cookie.name}=${cookie.value}` },
  });
  try {
    const message = await new Promise((resolveMessage, reject) => {
      const timer = setTimeout(() => reject(new Error("no message in time")), WAIT_MS);
      socket.once("message", (data) => {
        clearTimeout(timer);
        resolveMessage(String(data));
      });
      socket.once("error", (error) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      });
    });
    assert(message === `hello ${USER}`, `message: ${message}`);
    assert(victim.events.errors.length === 0, `errors: ${JSON.stringify(victim.events.errors)}`);
  } finally {
    socket.close();
  }
}

async function login(context, victimUrl, name) {
  const page = await context.newPage();
  await page.goto(`${victimUrl}/login`);
  await page.locator("#done").waitFor();
  await page.close();
  const cookies = await context.cookies(victimUrl);
  assert(
    cookies.some((c) => c.name === name),
    `cookies: ${cookies.map((c) => c.name)}`,
  );
}

/** Attacks that carry no Origin: without Fetch Metadata, nothing tells them from a client's. */
const NO_ORIGIN = new Set(["img", "fetch no-cors", "top-level navigation", "iframe"]);

async function run() {
  assert(
    existsSync(executablePath),
    `no browser at ${executablePath}: apt-get install -y chromium (or set CHROMIUM)`,
  );
  assert(
    existsSync(join(distDir, "index.js")),
    `no build at ${distDir}: run npm run build first (or set ENGINE_IO_SESSION_DIST)`,
  );
  const victims = [
    await startVictim({
      label: "SameSite=Lax cookie",
      port: BASE_PORT,
      name: "lax.sid",
      cookie: { sameSite: "lax" },
    }),
    await startVictim({ label: "default cookie", port: BASE_PORT + 1, name: "connect.sid" }),
  ];
  const attackerPort = BASE_PORT + 10;
  await startAttacker(attackerPort);
  // localhost and 127.0.0.1 are potentially trustworthy origins: Chromium sends Fetch Metadata to
  // them (as to every HTTPS origin), and they are two sites.
  const attackers = [
    { label: "same site, other port", origin: `http://localhost:${attackerPort}` },
    { label: "other site", origin: `http://127.0.0.1:${attackerPort}` },
  ];
  // Plain HTTP to another name: no Fetch Metadata at all (the residual case SECURITY.md names).
  const plain = { url: `http://victim.test:${BASE_PORT}` };
  const plainAttackers = [
    { label: "plain HTTP, same site, other port", origin: `http://victim.test:${attackerPort}` },
    { label: "plain HTTP, other site", origin: `http://evil.test:${attackerPort}` },
  ];

  const userDataDir = mkdtempSync(join(tmpdir(), "attacks-chromium-"));
  cleanups.push(() => rmSync(userDataDir, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--host-resolver-rules=MAP victim.test 127.0.0.1, MAP evil.test 127.0.0.1, MAP localhost 127.0.0.1",
    ],
  });
  cleanups.unshift(() => Promise.race([context.close().catch(() => {}), delay(5000)]));
  context.setDefaultTimeout(WAIT_MS);
  console.log(`attacks: build ${distDir}, browser ${executablePath}`);

  for (const victim of victims) {
    await check(`[${victim.label}] the victim logs in`, () =>
      login(context, victim.url, victim.name),
    );
  }
  await check("[plain HTTP] the victim logs in", () => login(context, plain.url, victims[0].name));

  const matrix = [];
  const attempt = async (victim, victimUrl, victimLabel, attacker, kind, residual) => {
    let row;
    await check(`[${victimLabel}] ${attacker.label}: ${kind}`, async () => {
      row = await attack(context, victim, victimUrl, attacker.origin, kind, residual);
      return `(cookie sent: ${row.cookie}; ${row.metadata || "-"}; ${row.outcome})`;
    });
    matrix.push({
      victim: victimLabel,
      attacker: attacker.label,
      kind,
      residual,
      ok: results.at(-1).ok,
      ...row,
    });
  };
  for (const victim of victims) {
    for (const attacker of attackers) {
      for (const kind of ATTACKS)
        await attempt(victim, victim.url, victim.label, attacker, kind, false);
    }
  }
  for (const attacker of plainAttackers) {
    for (const kind of ATTACKS) {
      await attempt(victims[0], plain.url, victims[0].label, attacker, kind, NO_ORIGIN.has(kind));
    }
  }

  for (const victim of victims) {
    await check(
      `[${victim.label}] control: the victim's page gets its session (polling, then websocket)`,
      () => control(context, victim, "polling"),
    );
    await check(
      `[${victim.label}] control: the victim's page gets its session (websocket only)`,
      () => control(context, victim, "websocket"),
    );
    for (const transport of ["polling", "websocket"]) {
      await check(
        `[${victim.label}] control: a Node client without Origin or Fetch Metadata (${transport})`,
        () => nodeClient(context, victim, transport),
      );
    }
  }

  console.log(
    "\nattack matrix (victim | attacker | request | cookie sent | what the server saw | outcome | verdict)",
  );
  for (const row of matrix) {
    const verdict = !row.ok ? "FAILED" : row.residual ? "residual: nothing readable" : "refused";
    console.log(
      `  ${row.victim} | ${row.attacker} | ${row.kind} | ${row.cookie ?? "?"} | ${row.metadata || "-"} | ${row.outcome ?? "?"} | ${verdict}`,
    );
  }
}

// ---- main ----------------------------------------------------------------------------------------

async function finish(code) {
  if (finished) return;
  finished = true;
  for (const cleanup of cleanups.splice(0)) {
    await Promise.resolve()
      .then(cleanup)
      .catch(() => {});
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`attacks: ${passed} passed, ${failed} failed (${seconds} s)`);
  process.exit(code !== 0 || failed > 0 || results.length === 0 ? 1 : 0);
}

const overall = setTimeout(() => {
  console.log(`  FAIL  the run took longer than ${OVERALL_MS / 1000} s`);
  results.push({ name: "overall timeout", ok: false });
  void finish(1);
}, OVERALL_MS);
overall.unref();

for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => void finish(1));

try {
  await run();
  await finish(0);
} catch (error) {
  console.log(`  FAIL  ${describe(error)}`);
  results.push({ name: "setup", ok: false });
  await finish(1);
}
