// Load and soak test of the built package (dist/): `npm run test:load` (builds first).
//
// One server process (this one, run with --expose-gc) holds a real Express app with express-session
// and a SessionServer, on 127.0.0.1 only. Two child processes (load/clients.mjs) drive real
// engine.io-client sockets: one over websocket, one over long-polling.
//
//   1. open at once: LOAD_SOCKETS (2,000) websocket + LOAD_SOCKETS polling sockets, one session each;
//      every session resolved, every client's one message delivered; then all closed: the server's
//      internal maps empty (stats all zero), heap back within 10% of the baseline after GC.
//   2. soak: LOAD_CYCLES (20,000) websocket connect/disconnect cycles in batches of LOAD_BATCH,
//      one message each; stats back to zero after every batch, heap within 10% of the warm level.
//
// Bounded (an overall watchdog) and self-stopping; exits non-zero on any failure and ends with
// "load: <n> passed, <m> failed". Figures are printed as they are measured (docs/load.md has them).
import { execFileSync, fork, spawnSync } from "node:child_process";
import http from "node:http";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import console from "node:console";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { clearTimeout, setTimeout, setImmediate } from "node:timers";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

const env = (name, fallback) => {
  const value = process.env[name];
  return value === undefined || value === "" ? fallback : Number(value);
};
const SOCKETS = env("LOAD_SOCKETS", 2_000);
const CYCLES = env("LOAD_CYCLES", 20_000);
const BATCH = env("LOAD_BATCH", 500);
const OVERALL_TIMEOUT_MS = env("LOAD_TIMEOUT_MS", 10 * 60_000);
const HEAP_TOLERANCE = 0.1;

// ------------------------------------------------------------------ file descriptors
// The server holds one descriptor per websocket and up to two per polling client; each client process
// about as many. Raise the soft limit (up to the hard one) by re-running under `ulimit -n` if needed.
const NEEDED_FDS = 3 * SOCKETS + 2_048;
const shell = (command) => execFileSync("sh", ["-c", command], { encoding: "utf8" }).trim();
const softLimit = shell("ulimit -n");
if (softLimit !== "unlimited" && Number(softLimit) < NEEDED_FDS) {
  const hardLimit = shell("ulimit -Hn");
  const target = hardLimit === "unlimited" ? 65_536 : Math.min(Number(hardLimit), 65_536);
  if (target < NEEDED_FDS || process.env.LOAD_ULIMIT_RAISED !== undefined) {
    console.log(
      `not ok - needs ${NEEDED_FDS} file descriptors, ulimit -n is ${softLimit} (hard ${hardLimit})`,
    );
    console.log("load: 0 passed, 1 failed");
    process.exit(1);
  }
  console.log(`load: raising ulimit -n from ${softLimit} to ${target}`);
  const rerun = spawnSync(
    "sh",
    [
      "-c",
      `ulimit -n ${target} && exec "$0" "$@"`,
      process.execPath,
      ...process.execArgv,
      fileURLToPath(import.meta.url),
    ],
    { stdio: "inherit", env: { ...process.env, LOAD_ULIMIT_RAISED: "1" } },
  );
  process.exit(rerun.status ?? 1);
}

// ------------------------------------------------------------------ bookkeeping and the watchdog

let passed = 0;
let failed = 0;
function check(ok, what, detail = "") {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok" : "not ok"} - ${what}${detail === "" ? "" : ` (${detail})`}`);
  return ok;
}

const children = new Set();
function killChildren() {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
}
function finish(code) {
  killChildren();
  console.log(`load: ${passed} passed, ${failed} failed`);
  process.exit(code);
}
process.on("exit", killChildren);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    console.error(`load: ${signal}`);
    failed++;
    finish(130);
  });
}
process.on("uncaughtException", (error) => {
  check(false, "no uncaught exception", String(error?.stack ?? error));
  finish(1);
});
process.on("unhandledRejection", (error) => {
  check(false, "no unhandled rejection", String(error?.stack ?? error));
  finish(1);
});
setTimeout(() => {
  check(false, `finishes within ${OVERALL_TIMEOUT_MS / 1000} s`);
  finish(1);
}, OVERALL_TIMEOUT_MS).unref();

if (typeof globalThis.gc !== "function") {
  check(false, "runs with --expose-gc (npm run test:load does)");
  finish(1);
}

// ------------------------------------------------------------------ helpers

const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** The heap after full collections, once nothing is left to finalize. */
async function settledHeap() {
  for (let i = 0; i < 6; i++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
    await sleep(50);
  }
  return process.memoryUsage().heapUsed;
}

async function until(predicate, timeoutMs, what) {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - started;
}

/** Loads dist/ (others may be rebuilding it: retry for a while). */
async function loadBuild() {
  for (let attempt = 1; ; attempt++) {
    try {
      return require("../dist/index.js");
    } catch (error) {
      if (attempt >= 30) throw new Error(`no loadable build in dist/ (npm run build): ${error}`);
      await sleep(1_000);
    }
  }
}

function forkClients(transport, url) {
  const child = fork(path.join(here, "clients.mjs"), [transport, url], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.add(child);
  const waiting = [];
  child.on("message", (message) => {
    const next = waiting.shift();
    if (next !== undefined) next(message);
  });
  child.on("exit", (code, signal) => {
    children.delete(child);
    if (code !== 0 && signal !== "SIGKILL") {
      check(false, `${transport} client process exits cleanly`, `code ${code}, signal ${signal}`);
      finish(1);
    }
  });
  const nextMessage = (timeoutMs, what) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${transport} clients: ${what} timed out`)),
        timeoutMs,
      );
      waiting.push((message) => {
        clearTimeout(timer);
        if (message.type === "failed")
          reject(new Error(`${transport} clients: ${message.message}`));
        else resolve(message);
      });
    });
  return {
    ready: nextMessage(30_000, "start"),
    /** Sends a command and resolves its answer. */
    run(type, args = {}, timeoutMs = 120_000) {
      const answer = nextMessage(timeoutMs, type);
      child.send({ type, ...args });
      return answer;
    },
    exit() {
      child.send({ type: "exit" });
    },
  };
}

// ------------------------------------------------------------------ the server

const { SessionServer } = await loadBuild();
const express = require("express");
const session = require("express-session");

const secret = ["load secret", "an older load secret"];
const store = new session.MemoryStore();
const app = express();
app.use(session({ store, secret, resave: false, saveUninitialized: false }));
app.get("/login", (req, res) => {
  req.session.user = { name: String(req.query.name) };
  res.json({ ok: true });
});
const httpServer = http.createServer(app);
await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${httpServer.address().port}`;

const server = new SessionServer(httpServer, { store, secret });
const counts = { sessions: 0, sessionErrors: 0, messages: 0, firstError: undefined };
server.on("session", (socket, value) => {
  // The session is the one the client logged in with (the user name is in the record).
  if (typeof value.user?.name === "string") counts.sessions++;
  socket.on("message", () => {
    counts.messages++;
  });
});
server.on("session_error", (error) => {
  counts.sessionErrors++;
  counts.firstError ??= `${error.code}: ${error.message}`;
});

/** Every count at zero (`stats.bus` is a status, not a count). */
const isIdle = () =>
  server.clientsCount === 0 &&
  Object.values(server.stats).every((value) => typeof value !== "number" || value === 0);
const statsLine = () => JSON.stringify({ clients: server.clientsCount, ...server.stats });

console.log(
  `load: node ${process.version}, ${SOCKETS} websocket + ${SOCKETS} polling sockets, ` +
    `${CYCLES} cycles in batches of ${BATCH}, server ${url}`,
);

try {
  const ws = forkClients("websocket", url);
  const polling = forkClients("polling", url);
  await Promise.all([ws.ready, polling.ready]);

  // Sessions created over HTTP by real express-session: one per socket.
  let started = Date.now();
  await Promise.all([
    ws.run("login", { count: SOCKETS }),
    polling.run("login", { count: SOCKETS }),
  ]);
  console.log(`  logged in ${2 * SOCKETS} sessions over HTTP in ${Date.now() - started} ms`);

  // Warm-up: every code path, and Node's bounded pools (HTTP parsers, buffers) filled by a few
  // hundred concurrent sockets, so the baseline is not taken before lazy initialization.
  const warmUp = Math.min(SOCKETS, 500);
  await Promise.all([
    ws.run("cycle", { count: warmUp, offset: 0 }),
    polling.run("cycle", { count: warmUp, offset: 0 }),
  ]);
  await until(isIdle, 30_000, "the warm-up sockets to close");
  const baseline = await settledHeap();
  const countsBefore = { ...counts };
  console.log(
    `  baseline heap ${mb(baseline)} (after login and warm-up), rss ${mb(process.memoryUsage().rss)}`,
  );

  // ---------------------------------------------------------------- 1. all open at once
  started = Date.now();
  const [wsOpen, pollingOpen] = await Promise.all([
    ws.run("open", { count: SOCKETS }),
    polling.run("open", { count: SOCKETS }),
  ]);
  const openMs = Date.now() - started;
  check(
    wsOpen.opened === SOCKETS && pollingOpen.opened === SOCKETS,
    `${2 * SOCKETS} sockets open at once`,
    `websocket ${wsOpen.opened}/${SOCKETS} in ${wsOpen.ms} ms, polling ${pollingOpen.opened}/${SOCKETS} in ${pollingOpen.ms} ms` +
      ((wsOpen.firstFailure ?? pollingOpen.firstFailure)
        ? `; first failure: ${wsOpen.firstFailure ?? pollingOpen.firstFailure}`
        : ""),
  );
  const expectedSessions = countsBefore.sessions + 2 * SOCKETS;
  const expectedMessages = countsBefore.messages + 2 * SOCKETS;
  await until(() => counts.messages >= expectedMessages, 60_000, "every message").catch(
    () => undefined,
  );
  const peak = {
    heap: process.memoryUsage().heapUsed,
    rss: process.memoryUsage().rss,
    stats: statsLine(),
  };
  check(
    counts.sessions === expectedSessions && counts.sessionErrors === 0,
    "every session resolved",
    `${counts.sessions - countsBefore.sessions} sessions, ${counts.sessionErrors} session errors${counts.firstError ? ` (${counts.firstError})` : ""}`,
  );
  check(
    counts.messages === expectedMessages,
    "every message delivered",
    `${counts.messages - countsBefore.messages} of ${2 * SOCKETS}`,
  );
  check(
    server.stats.sessions === 2 * SOCKETS &&
      server.stats.sockets === 2 * SOCKETS &&
      server.clientsCount === 2 * SOCKETS,
    "the server indexes every open socket under its own session",
    peak.stats,
  );
  console.log(
    `  all open and delivered in ${openMs} ms; peak heap ${mb(peak.heap)}, rss ${mb(peak.rss)}`,
  );

  started = Date.now();
  await Promise.all([ws.run("close"), polling.run("close")]);
  const idleMs = await until(isIdle, 60_000, "the server to let go of every socket").catch(
    () => -1,
  );
  check(idleMs >= 0, "all closed: stats all zero, no engine.io client left", statsLine());
  const afterOpen = await settledHeap();
  check(
    afterOpen <= baseline * (1 + HEAP_TOLERANCE),
    "heap back within 10% of the baseline after GC",
    `baseline ${mb(baseline)}, after ${mb(afterOpen)} (${(((afterOpen - baseline) / baseline) * 100).toFixed(1)}%)`,
  );
  console.log(`  closed in ${Date.now() - started} ms`);

  // ---------------------------------------------------------------- 2. connect/disconnect soak
  const soakStart = Date.now();
  const cycleMessages = counts.messages;
  const cycleSessions = counts.sessions;
  let opened = 0;
  let firstFailure;
  let warm;
  let notIdle = 0;
  const samples = [];
  const batches = Math.ceil(CYCLES / BATCH);
  // The reference level: after a tenth of the soak (JIT and inline caches settled by then).
  const warmBatch = Math.min(batches - 1, Math.max(1, Math.floor(batches / 10)));
  for (let batch = 0; batch < batches; batch++) {
    const count = Math.min(BATCH, CYCLES - batch * BATCH);
    const result = await ws.run("cycle", { count, offset: batch * BATCH });
    opened += result.opened;
    firstFailure ??= result.firstFailure;
    if ((await until(isIdle, 30_000, "idle").catch(() => -1)) < 0) notIdle++;
    if (batch === warmBatch || batch === batches - 1 || batch % 10 === 9) {
      const heap = await settledHeap();
      if (batch === warmBatch) warm = heap;
      samples.push(`${(batch + 1) * BATCH}: ${mb(heap)}`);
    }
  }
  const soakMs = Date.now() - soakStart;
  const end = await settledHeap();
  check(
    opened === CYCLES,
    `${CYCLES} websocket connect/disconnect cycles`,
    `${opened} opened${firstFailure ? `; first failure: ${firstFailure}` : ""}, ${soakMs} ms, ${Math.round((CYCLES / soakMs) * 1000)} cycles/s`,
  );
  check(
    counts.sessions - cycleSessions === CYCLES &&
      counts.messages - cycleMessages === CYCLES &&
      counts.sessionErrors === 0,
    "every cycle resolved its session and delivered its message",
    `${counts.sessions - cycleSessions} sessions, ${counts.messages - cycleMessages} messages`,
  );
  check(
    notIdle === 0 && isIdle(),
    "stats back to zero after every batch",
    `${notIdle} batches not idle; now ${statsLine()}`,
  );
  check(
    end <= warm * (1 + HEAP_TOLERANCE),
    "no heap growth over the soak (within 10% of the level after a tenth of it)",
    `after ${(warmBatch + 1) * BATCH} cycles ${mb(warm)}, end ${mb(end)} (${(((end - warm) / warm) * 100).toFixed(1)}%); samples ${samples.join(", ")}`,
  );

  ws.exit();
  polling.exit();
} catch (error) {
  check(false, "the run completes", String(error?.stack ?? error));
}

server.close();
httpServer.closeAllConnections();
httpServer.close();
finish(failed === 0 ? 0 : 1);
