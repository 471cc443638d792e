// The library's own CPU cost per handshake, measured in one process without sockets: engine.io's
// `verify()` of a polling handshake request up to its callback, then the `connection` that wraps
// the socket, for plain engine.io and for SessionServer + MemoryStore. CPU time, not wall time, and
// sequential: far less sensitive to other load on the machine than the loopback figures.
//
//   node bench/handshake-cost.mjs [--json]     (uses BENCH_DIST, or ../dist)
import { EventEmitter } from "node:events";
import process from "node:process";
import console from "node:console";
import { createRequire } from "node:module";
import { SECRET, cookieHeader, newSessionId, sessionRecord } from "./session-fixture.mjs";

const require = createRequire(import.meta.url);
const { Server } = require("engine.io");
const session = require("express-session");
const { SessionServer } = require(process.env.BENCH_DIST ?? "../dist/index.js");

const ROUNDS = 7;
const ITERATIONS = 20_000;

const sessionId = newSessionId();
const cookie = cookieHeader(sessionId);
const store = new session.MemoryStore();
store.set(sessionId, sessionRecord());

const plain = new Server();
const server = new SessionServer({ store, secret: SECRET });
server.on("session", () => {});

let nextId = 0;
function fakeRequest() {
  return {
    _query: { EIO: "4", transport: "polling" },
    method: "GET",
    url: "/engine.io/?EIO=4&transport=polling",
    headers: { cookie, host: "127.0.0.1:3000" },
    socket: { destroyed: false, readable: true },
  };
}

/** One handshake: verify, then (optionally) the connection of a stand-in engine.io socket. */
function handshake(engine, withConnection) {
  return new Promise((resolve, reject) => {
    const req = fakeRequest();
    engine.verify(req, false, (code) => {
      if (code !== undefined) {
        reject(new Error(`handshake refused with code ${code}`));
        return;
      }
      if (withConnection) {
        const conn = new EventEmitter();
        conn.id = `c${nextId++}`;
        conn.request = req;
        conn.transport = { name: "polling" };
        engine.emit("connection", conn);
        conn.emit("close", "transport close");
      }
      resolve();
    });
  });
}

async function cpuPerHandshake(engine, withConnection, concurrency) {
  const start = process.cpuUsage();
  for (let i = 0; i < ITERATIONS; i += concurrency) {
    const batch = [];
    for (let j = 0; j < concurrency; j++) batch.push(handshake(engine, withConnection));
    await Promise.all(batch);
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / ITERATIONS;
}

const CASES = [
  ["plain engine.io verify", plain, false, 1],
  ["SessionServer verify, one at a time", server, false, 1],
  ["SessionServer verify + connection, one at a time", server, true, 1],
  ["SessionServer verify + connection, 50 of one session at once", server, true, 50],
];

const samples = Object.fromEntries(CASES.map(([name]) => [name, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, engine, withConnection, concurrency] of CASES) {
    samples[name].push(await cpuPerHandshake(engine, withConnection, concurrency));
  }
}
const results = CASES.map(([name]) => {
  const sorted = samples[name].sort((a, b) => a - b);
  return { case: name, medianMicros: sorted[Math.floor(sorted.length / 2)], minMicros: sorted[0] };
});
if (process.argv.includes("--json")) {
  process.stdout.write(JSON.stringify(results));
} else {
  for (const r of results) {
    console.log(
      `${r.case.padEnd(62)} ${r.medianMicros.toFixed(2).padStart(7)} µs CPU (min ${r.minMicros.toFixed(2)})`,
    );
  }
}
