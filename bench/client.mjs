// The load generator: its own process, driven over IPC by bench/run.mjs. Every task is bounded in
// time and in request count, and reports its own CPU use (to tell a busy client from a slow server).
import http from "node:http";
import net from "node:net";
import process from "node:process";
import { createRequire } from "node:module";
import { URL } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { clearTimeout, setTimeout } from "node:timers";
import { serveOrchestrator } from "./ipc-child.mjs";

const require = createRequire(import.meta.url);
const WebSocket = require("ws");

const HANDSHAKE_PATH = "/engine.io/?EIO=4&transport=polling";
const MAX_LATENCIES = 1_000_000;

/** Browsers send the page's Origin on every websocket handshake: a same-origin page here. */
function originOf(url) {
  return `http://${new URL(url).host}`;
}

function now() {
  return Number(process.hrtime.bigint()) / 1e6; // ms
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)];
}

function summary(count, errors, started, ended, latencies, cpuStart) {
  const cpu = process.cpuUsage(cpuStart);
  const elapsed = (ended - started) / 1000;
  const sorted = latencies === undefined ? [] : Float64Array.from(latencies).sort();
  return {
    count,
    errors,
    seconds: elapsed,
    rate: count / elapsed,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    clientCpu: (cpu.user + cpu.system) / 1e6 / elapsed, // cores busy
  };
}

/** One GET or POST over a keep-alive agent; resolves with status and body, never rejects. */
function request(agent, port, method, path, headers, body) {
  return new Promise((resolve) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => (data += chunk));
      res.on("end", () => resolve({ status: res.statusCode, body: data }));
      res.on("error", (error) => resolve({ status: 0, body: String(error) }));
    });
    req.on("error", (error) => resolve({ status: 0, body: String(error) }));
    req.end(body);
  });
}

/** Runs `concurrency` loops of `once()` until the deadline or `maxCount` successes. */
async function closedLoop({ seconds, concurrency, maxCount }, once) {
  const latencies = [];
  let count = 0;
  let errors = 0;
  const cpuStart = process.cpuUsage();
  const started = now();
  const deadline = started + seconds * 1000;
  let ended = deadline;
  const slot = async (index) => {
    while (now() < deadline && count < maxCount) {
      const t0 = now();
      const ok = await once(index);
      const t1 = now();
      if (t1 > deadline) break; // finished after the bell: not counted
      if (ok) {
        count++;
        if (latencies.length < MAX_LATENCIES) latencies.push(t1 - t0);
      } else {
        errors++;
        if (errors > 1000) throw new Error(`too many errors (${errors}), last at slot ${index}`);
      }
      if (count >= maxCount) ended = t1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => slot(i)));
  return summary(count, errors, started, Math.min(ended, now()), latencies, cpuStart);
}

// ---------------------------------------------------------------- tasks
const tasks = {
  /** Polling handshakes: GET ...&transport=polling with the session cookie, 200 + open packet. */
  async pollingHandshakes({ port, cookie, seconds, concurrency, maxCount }) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    try {
      return await closedLoop({ seconds, concurrency, maxCount }, async () => {
        const res = await request(agent, port, "GET", HANDSHAKE_PATH, { cookie });
        return res.status === 200 && res.body.startsWith('0{"sid":');
      });
    } finally {
      agent.destroy();
    }
  },

  /** Websocket handshakes: connect, wait for the open packet, close. */
  async wsHandshakes({ port, cookie, seconds, concurrency, maxCount }) {
    const url = `ws://127.0.0.1:${port}/engine.io/?EIO=4&transport=websocket`;
    return closedLoop({ seconds, concurrency, maxCount }, () => {
      return new Promise((resolve) => {
        const ws = new WebSocket(url, {
          headers: { cookie },
          origin: originOf(url),
          perMessageDeflate: false,
        });
        let done = false;
        const finish = (ok) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve(ok);
        };
        const timer = setTimeout(() => {
          ws.terminate();
          finish(false);
        }, 10_000);
        ws.on("message", (data) => {
          const ok = String(data).startsWith('0{"sid":');
          ws.close();
          finish(ok);
        });
        ws.on("error", () => finish(false));
        ws.on("close", () => finish(false));
      });
    });
  },

  /** Message POSTs (`4hello`) on established polling sessions, one session per slot. */
  async pollingMessages({ port, cookie, seconds, concurrency, maxCount }) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    try {
      const sids = [];
      for (let i = 0; i < concurrency; i++) {
        const res = await request(agent, port, "GET", HANDSHAKE_PATH, { cookie });
        if (res.status !== 200) throw new Error(`handshake failed: ${res.status} ${res.body}`);
        sids.push(JSON.parse(res.body.slice(1)).sid);
      }
      const body = "4hello";
      const headers = {
        cookie,
        "content-type": "text/plain;charset=UTF-8",
        "content-length": String(body.length),
      };
      return await closedLoop({ seconds, concurrency, maxCount }, async (index) => {
        const path = `${HANDSHAKE_PATH}&sid=${sids[index]}`;
        const res = await request(agent, port, "POST", path, headers, body);
        return res.status === 200 && res.body === "ok";
      });
    } finally {
      agent.destroy();
    }
  },

  /** Messages on established websockets: `window` messages in flight per socket, echoed back. */
  async wsMessages({ port, cookie, seconds, sockets, window, maxCount }) {
    const url = `ws://127.0.0.1:${port}/engine.io/?EIO=4&transport=websocket`;
    const opened = await Promise.all(
      Array.from({ length: sockets }, () => openEngineSocket(url, cookie)),
    );
    let count = 0;
    let errors = 0;
    const cpuStart = process.cpuUsage();
    const started = now();
    const deadline = started + seconds * 1000;
    await new Promise((resolve) => {
      // A server that drops echoes must not hang the run.
      const safety = setTimeout(resolve, seconds * 1000 + 5_000);
      let running = opened.length;
      for (const ws of opened) {
        let inFlight = 0;
        const send = () => {
          inFlight++;
          ws.send("4hello");
        };
        const stop = () => {
          if (--running > 0) return;
          clearTimeout(safety);
          resolve();
        };
        ws.on("message", (data) => {
          const text = String(data);
          if (text === "2") {
            ws.send("3");
            return;
          }
          if (text !== "4hello") {
            errors++;
            return;
          }
          inFlight--;
          if (now() >= deadline || count >= maxCount) {
            if (inFlight === 0) stop();
            return;
          }
          count++;
          send();
        });
        ws.on("close", () => {
          if (inFlight > 0) {
            inFlight = 0;
            errors++;
            stop();
          }
        });
        for (let i = 0; i < window; i++) send();
      }
    });
    const ended = Math.min(now(), deadline);
    for (const ws of opened) ws.terminate();
    return summary(count, errors, started, ended, undefined, cpuStart);
  },

  /**
   * `n` handshakes of one session at once: connect `n` sockets first, then write every request
   * in one go, so they are all in flight together.
   */
  async burst({ port, cookie, n }) {
    const raw =
      `GET ${HANDSHAKE_PATH} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Cookie: ${cookie}\r\nConnection: close\r\n\r\n`;
    const sockets = await Promise.all(
      Array.from(
        { length: n },
        () =>
          new Promise((resolve, reject) => {
            const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
            socket.once("error", reject);
          }),
      ),
    );
    const started = now();
    const results = sockets.map(
      (socket) =>
        new Promise((resolve) => {
          let head = "";
          const timer = setTimeout(() => socket.destroy(), 15_000);
          socket.setEncoding("latin1");
          socket.on("data", (chunk) => {
            if (head.length < 16) head += chunk;
          });
          socket.on("close", () => {
            clearTimeout(timer);
            resolve(head.startsWith("HTTP/1.1 200"));
          });
          socket.on("error", () => {});
        }),
    );
    for (const socket of sockets) socket.write(raw);
    const oks = await Promise.all(results);
    return { n, ok: oks.filter(Boolean).length, seconds: (now() - started) / 1000 };
  },

  /** Opens `n` websockets (in waves of `concurrency`) and keeps them open, answering pings. */
  async openWs({ port, cookie, n, concurrency }) {
    const url = `ws://127.0.0.1:${port}/engine.io/?EIO=4&transport=websocket`;
    held.length = 0;
    let failed = 0;
    for (let i = 0; i < n; i += concurrency) {
      const wave = Array.from({ length: Math.min(concurrency, n - i) }, () =>
        openEngineSocket(url, cookie).then(
          (ws) => {
            ws.on("message", (data) => {
              if (String(data) === "2") ws.send("3");
            });
            held.push(ws);
          },
          () => failed++,
        ),
      );
      await Promise.all(wave);
    }
    return { open: held.length, failed };
  },

  async closeWs() {
    for (const ws of held) ws.terminate();
    const closed = held.length;
    held.length = 0;
    await sleep(200);
    return { closed };
  },
};

const held = [];

/** An engine.io websocket after its open packet; rejects on error or after 10 s. */
function openEngineSocket(url, cookie) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { cookie },
      origin: originOf(url),
      perMessageDeflate: false,
    });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("open packet timeout"));
    }, 10_000);
    ws.once("message", (data) => {
      clearTimeout(timer);
      if (String(data).startsWith('0{"sid":')) resolve(ws);
      else {
        ws.terminate();
        reject(new Error(`unexpected first packet: ${String(data).slice(0, 80)}`));
      }
    });
    ws.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

serveOrchestrator(tasks);
