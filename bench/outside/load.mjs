// One load process under run.mjs (IPC). On {cmd:"start", port, transport, concurrency, first,
// stride} it keeps `concurrency` handshakes in flight against 127.0.0.1:port, each with the next
// session's cookie (first, first+stride, ... across runs), until {cmd:"stop"}; then it lets the in-flight ones
// finish and answers {cmd:"stopped", done, failed, cpuUs}.
//   polling:   GET /engine.io/?EIO=4&transport=polling over node:http with a keep-alive Agent;
//              a success is a 200 whose body starts with the open packet "0{".
//   websocket: the `ws` package, a new TCP connection per handshake, Origin same-origin; a
//              success is the open packet "0{" as first message; then ws.close() (closing
//              handshake) and the next one starts when the connection has closed.
//   io-websocket: the same against socket.io: after "0{" it sends "40" (CONNECT) and a success
//              is socket.io's "40{" answer.
import http from "node:http";
import console from "node:console";
import { createRequire } from "node:module";
import process from "node:process";
import { setTimeout } from "node:timers";
import { allCookieHeaders, SESSIONS } from "./sessions.mjs";

const require = createRequire(import.meta.url);
const WebSocket = require("ws");

const WATCHDOG_MS = Number(process.env.OUTSIDE_WATCHDOG_MS ?? 6 * 60 * 1000);
setTimeout(() => {
  console.error("load: watchdog, exiting");
  process.exit(3);
}, WATCHDOG_MS).unref();
process.on("disconnect", () => process.exit(0));

const cookies = allCookieHeaders();
let job; // the current run
let cursor = -1; // the session of the last handshake, kept across runs

function nextCookie() {
  cursor = cursor < 0 ? job.first % SESSIONS : (cursor + job.stride) % SESSIONS;
  return cookies[cursor];
}

function finish(ok) {
  if (ok) job.done++;
  else {
    job.failed++;
    if (job.failed <= 3) job.errors.push(ok === false ? "refused" : String(ok));
  }
  job.inFlight--;
  if (job.running) launch();
  else if (job.inFlight === 0) report();
}

function polling() {
  const req = http.get(
    {
      host: "127.0.0.1",
      port: job.port,
      path: "/engine.io/?EIO=4&transport=polling",
      agent: job.agent,
      headers: { cookie: nextCookie() },
    },
    (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => finish(res.statusCode === 200 && body.startsWith("0{")));
    },
  );
  req.on("error", (err) => finish(err.code ?? err.message));
}

function websocket(io) {
  let result;
  const where = io ? "socket.io" : "engine.io";
  const ws = new WebSocket(`ws://127.0.0.1:${job.port}/${where}/?EIO=4&transport=websocket`, {
    headers: { cookie: nextCookie() },
    origin: `http://127.0.0.1:${job.port}`,
    perMessageDeflate: false,
  });
  ws.on("message", (data) => {
    const text = data.toString();
    if (text.startsWith("0{") && io) {
      ws.send("40"); // socket.io CONNECT to the main namespace
      return;
    }
    result = text.startsWith(io ? "40{" : "0{");
    ws.close();
  });
  ws.on("error", (err) => (result ??= err.code ?? err.message));
  ws.once("close", () => finish(result ?? "closed before open"));
}

function launch() {
  job.inFlight++;
  if (job.transport === "polling") polling();
  else websocket(job.transport === "io-websocket");
}

function report() {
  const cpu = process.cpuUsage(job.cpu);
  job.agent?.destroy();
  process.send({
    cmd: "stopped",
    done: job.done,
    failed: job.failed,
    errors: job.errors,
    cpuUs: cpu.user + cpu.system,
  });
}

process.on("message", (msg) => {
  if (msg.cmd === "start") {
    job = {
      ...msg,
      running: true,
      inFlight: 0,
      done: 0,
      failed: 0,
      errors: [],
      cpu: process.cpuUsage(),
      agent:
        msg.transport === "polling"
          ? new http.Agent({ keepAlive: true, maxSockets: msg.concurrency })
          : undefined,
    };
    for (let i = 0; i < msg.concurrency; i++) launch();
  } else if (msg.cmd === "stop") {
    job.running = false;
    if (job.inFlight === 0) report();
  }
});
process.send({ cmd: "ready" });
