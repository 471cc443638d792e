// The library's own CPU cost per handshake in one process, without sockets: engine.io's `verify()`
// of a polling handshake up to its callback, then the `connection` that wraps the socket and its
// close; 10,000 distinct logged-in sessions, each handshake the next cookie. For plain engine.io one
// loop turn later (the baseline), the floor (bench/floor.mjs) and SessionServer. CPU time, in
// alternating rounds: far less sensitive to other load than the loopback figures, and the way to
// A/B a change to lib/ (BENCH_DIST=/path/to/other/dist/index.js).
//
//   node bench/handshake-cost.mjs [--json] [--rounds=N] [--transport=websocket]
//
// --transport=websocket: the upgrade request of a websocket handshake (same-origin `Origin`, so the
// origin check runs), verified as an upgrade; its socket is a websocket.
import { EventEmitter } from "node:events";
import process from "node:process";
import console from "node:console";
import { PerformanceObserver } from "node:perf_hooks";
import { createRequire } from "node:module";
import { setImmediate } from "node:timers";
import { URL } from "node:url";
import {
  COOKIE_NAME,
  cookieHeader,
  newSessionId,
  secrets,
  sessionRecord,
} from "./session-fixture.mjs";
import { floorAllowRequest } from "./floor.mjs";

const require = createRequire(import.meta.url);
const { Server } = require("engine.io");
const session = require("express-session");
const dist = process.env.BENCH_DIST ?? new URL("../dist/index.js", import.meta.url).pathname;
const { SessionServer } = require(dist);

const ROUNDS = Number(process.argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 9);
const ITERATIONS = 10_000;
const TRANSPORT = process.argv.find((a) => a.startsWith("--transport="))?.slice(12) ?? "polling";
const WEBSOCKET = TRANSPORT === "websocket";
const SECRETS = secrets(1);

const store = new session.MemoryStore();
const record = sessionRecord(300);
const cookies = [];
for (let i = 0; i < 10_000; i++) {
  const id = newSessionId();
  store.set(id, record, () => {});
  cookies.push(cookieHeader(id));
}
let next = 0;

const later = new Server({ allowRequest: (req, callback) => setImmediate(callback, null, true) });
const floor = new Server({ allowRequest: floorAllowRequest(store, SECRETS) });
const server = new SessionServer({ store, secret: SECRETS, name: COOKIE_NAME });
// What the app of the loopback bench does with every socket: listen to its messages.
const noop = () => {};
const onSocket = (socket) => socket.on("message", noop);
server.on("session", onSocket);
later.on("connection", onSocket);
floor.on("connection", onSocket);
// BENCH_DIST_B: a second build, measured in the same process, in the same rounds (an A/B of lib/).
const distB = process.env.BENCH_DIST_B;
const serverB =
  distB === undefined
    ? undefined
    : new (require(distB).SessionServer)({ store, secret: SECRETS, name: COOKIE_NAME });
serverB?.on("session", onSocket);

let gcMicros = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMicros += e.duration * 1000;
}).observe({ entryTypes: ["gc"] });

function fakeRequest() {
  next = (next + 1) % cookies.length;
  const headers = { cookie: cookies[next], host: "127.0.0.1:3000" };
  if (WEBSOCKET) {
    headers.origin = "http://127.0.0.1:3000";
    headers.upgrade = "websocket";
    headers.connection = "Upgrade";
  }
  return {
    _query: { EIO: "4", transport: TRANSPORT },
    method: "GET",
    url: `/engine.io/?EIO=4&transport=${TRANSPORT}`,
    headers,
    socket: { destroyed: false, readable: true },
  };
}

let conns = 0;
/** One handshake: verify, then the connection of a stand-in engine.io socket, then its close. */
function handshake(engine) {
  return new Promise((resolve, reject) => {
    const req = fakeRequest();
    engine.verify(req, WEBSOCKET, (code) => {
      if (code !== undefined) {
        reject(new Error(`handshake refused with code ${code}`));
        return;
      }
      const conn = new EventEmitter();
      conn.id = `c${conns++}`;
      conn.request = req;
      conn.server = engine;
      conn.transport = { name: TRANSPORT };
      engine.emit("connection", conn);
      conn.emit("close", "transport close");
      resolve();
    });
  });
}

/** CPU and GC µs per handshake, `concurrency` in flight (as the loopback bench has). */
async function cost(engine, concurrency = 48) {
  const start = process.cpuUsage();
  const gcStart = gcMicros;
  for (let i = 0; i < ITERATIONS; i += concurrency) {
    const batch = [];
    for (let j = 0; j < concurrency; j++) batch.push(handshake(engine));
    await Promise.all(batch);
  }
  const used = process.cpuUsage(start);
  return { cpu: (used.user + used.system) / ITERATIONS, gc: (gcMicros - gcStart) / ITERATIONS };
}

const CASES = [
  ["baseline (engine.io, one loop turn later)", later],
  ["floor", floor],
  ["SessionServer", server],
  ...(serverB === undefined ? [] : [["SessionServer (BENCH_DIST_B)", serverB]]),
];
// --only=floor,SessionServer: a subset (for --trace-gc investigations of one case).
const only = process.argv
  .find((a) => a.startsWith("--only="))
  ?.slice(7)
  .split(",");
if (only !== undefined)
  CASES.splice(0, CASES.length, ...CASES.filter(([name]) => only.some((o) => name.startsWith(o))));
const samples = Object.fromEntries(CASES.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS + 1; round++) {
  for (const [name, engine] of round % 2 === 0 ? CASES : [...CASES].reverse()) {
    const r = await cost(engine);
    if (round > 0) samples[name].push(r); // round 0: warm-up
  }
}
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = samples[CASES[0][0]];
samples.SessionServer ??= base;
const results = CASES.map(([name]) => ({
  case: name,
  medianMicros: med(samples[name].map((s) => s.cpu)),
  extraMicros: med(samples[name].map((s, i) => s.cpu - base[i].cpu)),
  gcMicros: med(samples[name].map((s) => s.gc)),
  // Paired against the first SessionServer: the A/B figure.
  vsSessionServer: med(samples[name].map((s, i) => s.cpu - samples.SessionServer[i].cpu)),
}));
if (process.argv.includes("--json")) {
  process.stdout.write(JSON.stringify(results));
} else {
  for (const r of results) {
    console.log(
      `${r.case.padEnd(44)} ${r.medianMicros.toFixed(2).padStart(7)} µs CPU, extra ${r.extraMicros.toFixed(2).padStart(6)}, GC ${r.gcMicros.toFixed(2)} µs` +
        (distB === undefined ? "" : `, vs SessionServer ${r.vsSessionServer.toFixed(2)} µs`),
    );
  }
}
process.exit(0);
