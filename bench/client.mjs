// A load generator: its own process, driven over IPC by bench/run.mjs. It speaks HTTP/1.1 and the
// websocket framing itself, on raw keep-alive TCP sockets (no http.Agent, no ws), so that it stays
// cheap and the server's main thread is the bottleneck. Every task is bounded in time.
import { Buffer } from "node:buffer";
import net from "node:net";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { setTimeout as sleep } from "node:timers/promises";
import { clearTimeout, setTimeout } from "node:timers";
import { serveOrchestrator } from "./ipc-child.mjs";

const now = () => performance.now(); // ms

// ---------------------------------------------------------------- HTTP/1.1 over one raw socket
/** One keep-alive connection; `request(text)` resolves `{ status, body }` (or status 0 on error). */
class HttpConnection {
  constructor(port) {
    this.socket = net.connect({ host: "127.0.0.1", port });
    this.socket.setNoDelay(true);
    this.socket.setEncoding("latin1");
    this.buffer = "";
    this.pending = null;
    this.socket.on("data", (chunk) => {
      this.buffer += chunk;
      this.#parse();
    });
    const fail = () => {
      this.closed = true;
      const p = this.pending;
      this.pending = null;
      p?.({ status: 0, body: "" });
    };
    this.socket.on("error", fail);
    this.socket.on("close", fail);
  }

  request(text) {
    return new Promise((resolve) => {
      if (this.closed) {
        resolve({ status: 0, body: "" });
        return;
      }
      this.pending = resolve;
      this.socket.write(text);
    });
  }

  #parse() {
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = this.buffer.slice(0, end);
    const status = Number(head.slice(9, 12));
    let body;
    let rest;
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length !== null) {
      const n = Number(length[1]);
      if (this.buffer.length < end + 4 + n) return;
      body = this.buffer.slice(end + 4, end + 4 + n);
      rest = this.buffer.slice(end + 4 + n);
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const last = this.buffer.indexOf("\r\n0\r\n\r\n", end);
      const empty = this.buffer.startsWith("0\r\n\r\n", end + 4);
      if (last < 0 && !empty) return;
      body = "(chunked)";
      rest = empty ? this.buffer.slice(end + 9) : this.buffer.slice(last + 7);
    } else {
      body = "";
      rest = this.buffer.slice(end + 4);
    }
    this.buffer = rest;
    const p = this.pending;
    this.pending = null;
    p?.({ status, body });
  }

  destroy() {
    this.closed = true;
    this.socket.destroy();
  }
}

function get(host, path, cookie) {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nAccept: */*\r\n\r\n`;
}

function post(host, path, cookie, body) {
  return (
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\nCookie: ${cookie}\r\n` +
    `Content-Type: text/plain;charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** An engine.io (and, with `io`, socket.io CONNECT) polling session on `conn`; resolves its sid or null. */
async function pollingOpen(conn, target, cookie) {
  const { host, path, io } = target;
  const open = await conn.request(get(host, `${path}?EIO=4&transport=polling`, cookie));
  if (open.status !== 200 || !open.body.startsWith('0{"sid":"')) return null;
  const sid = open.body.slice(9, open.body.indexOf('"', 9));
  if (!io) return sid;
  const q = `${path}?EIO=4&transport=polling&sid=${sid}`;
  const sent = await conn.request(post(host, q, cookie, "40"));
  if (sent.status !== 200) return null;
  const ack = await conn.request(get(host, q, cookie));
  if (ack.status !== 200 || !ack.body.startsWith("40{")) return null;
  return sid;
}

// ---------------------------------------------------------------- websocket over one raw socket
const WS_KEY = "dGhlIHNhbXBsZSBub25jZQ==";

/** A masked client text frame (mask key 0: valid, and the payload stays as it is). */
function frame(text) {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head =
    n < 126
      ? Buffer.from([0x81, 0x80 | n, 0, 0, 0, 0])
      : Buffer.from([0x81, 0xfe, n >> 8, n & 255, 0, 0, 0, 0]);
  return Buffer.concat([head, payload]);
}
const PONG = frame("3");

/**
 * A websocket to `target`; `onMessage(text)` for each text frame from the server. Resolves when the
 * first frame (engine.io's open packet) arrived, with the socket, or rejects.
 */
function wsOpen(target, cookie, onMessage = () => {}) {
  const { port, host, path } = target;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.setNoDelay(true);
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    let opened = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("websocket open timeout"));
    }, 15_000);
    socket.on("connect", () => {
      socket.write(
        `GET ${path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${host}\r\nOrigin: http://${host}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${WS_KEY}\r\n` +
          `Sec-WebSocket-Version: 13\r\nCookie: ${cookie}\r\n\r\n`,
      );
    });
    socket.on("data", (chunk) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (!upgraded) {
        const end = buffer.indexOf("\r\n\r\n");
        if (end < 0) return;
        if (buffer.toString("latin1", 9, 12) !== "101") {
          clearTimeout(timer);
          socket.destroy();
          reject(new Error(`upgrade refused: ${buffer.toString("latin1", 0, 40)}`));
          return;
        }
        upgraded = true;
        buffer = buffer.subarray(end + 4);
      }
      for (;;) {
        if (buffer.length < 2) return;
        let n = buffer[1] & 0x7f;
        let offset = 2;
        if (n === 126) {
          if (buffer.length < 4) return;
          n = buffer.readUInt16BE(2);
          offset = 4;
        } else if (n === 127) {
          if (buffer.length < 10) return;
          n = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + n) return;
        const opcode = buffer[0] & 0x0f;
        const text = opcode === 1 ? buffer.toString("latin1", offset, offset + n) : null;
        buffer = buffer.subarray(offset + n);
        if (text === null) continue;
        if (!opened) {
          opened = true;
          clearTimeout(timer);
          if (text.startsWith('0{"sid":')) resolve(socket);
          else {
            socket.destroy();
            reject(new Error(`unexpected first packet ${text.slice(0, 40)}`));
          }
          continue;
        }
        if (text === "2") socket.write(PONG);
        else onMessage(text);
      }
    });
    socket.on("error", (error) => {
      clearTimeout(timer);
      if (!opened) reject(error);
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (!opened) reject(new Error("closed before the open packet"));
    });
  });
}

// ---------------------------------------------------------------- closed loops
/** Runs `concurrency` loops of `once(slot)` until the deadline; counts successes and errors. */
async function closedLoop({ seconds, concurrency }, once) {
  let count = 0;
  let errors = 0;
  const cpuStart = process.cpuUsage();
  const started = now();
  const deadline = started + seconds * 1000;
  const slot = async (index) => {
    while (now() < deadline) {
      const ok = await once(index);
      if (ok) count++;
      else if (++errors > 2000) throw new Error(`too many errors (${errors})`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => slot(i)));
  const elapsed = (now() - started) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  return { count, errors, seconds: elapsed, clientCpu: (cpu.user + cpu.system) / 1e6 / elapsed };
}

// ---------------------------------------------------------------- state
const cookieSets = new Map(); // key -> cookies this client uses for that server
let cursor = 0;
const held = [];

function cookiesOf(target) {
  const cookies = cookieSets.get(target.key);
  if (cookies === undefined || cookies.length === 0)
    throw new Error(`no cookies for ${target.key}`);
  return cookies;
}
/** Each handshake the next cookie (one cookie for the shared case). */
function nextCookie(cookies) {
  cursor = (cursor + 1) % cookies.length;
  return cookies[cursor];
}

const tasks = {
  setCookies({ key, cookies }) {
    cookieSets.set(key, cookies);
    return cookies.length;
  },
  dropCookies({ key }) {
    cookieSets.delete(key);
    return true;
  },

  /** Polling handshakes (with socket.io: + CONNECT and its answer, then a close packet). */
  async pollingHandshakes({ target, seconds, concurrency }) {
    const cookies = cookiesOf(target);
    const conns = Array.from({ length: concurrency }, () => new HttpConnection(target.port));
    try {
      return await closedLoop({ seconds, concurrency }, async (i) => {
        if (conns[i].closed) conns[i] = new HttpConnection(target.port);
        const cookie = nextCookie(cookies);
        const sid = await pollingOpen(conns[i], target, cookie);
        if (sid === null) return false;
        if (target.io) {
          const q = `${target.path}?EIO=4&transport=polling&sid=${sid}`;
          const closed = await conns[i].request(post(target.host, q, cookie, "1"));
          return closed.status === 200;
        }
        return true;
      });
    } finally {
      for (const c of conns) c.destroy();
    }
  },

  /** Websocket handshakes: connect, open packet (socket.io: CONNECT and its answer), hang up. */
  async wsHandshakes({ target, seconds, concurrency }) {
    const cookies = cookiesOf(target);
    return closedLoop({ seconds, concurrency }, async () => {
      let socket;
      try {
        if (!target.io) {
          socket = await wsOpen(target, nextCookie(cookies));
          return true;
        }
        let answered;
        const ack = new Promise((resolve) => (answered = resolve));
        socket = await wsOpen(target, nextCookie(cookies), (text) => answered(text));
        socket.on("close", () => answered(""));
        socket.write(frame("40"));
        return (await ack).startsWith("40{");
      } catch {
        return false;
      } finally {
        socket?.destroy();
      }
    });
  },

  /** Message POSTs on established polling sessions, one session per slot. */
  async pollingMessages({ target, seconds, concurrency }) {
    const cookies = cookiesOf(target);
    const conns = [];
    const paths = [];
    const chosen = [];
    for (let i = 0; i < concurrency; i++) {
      const conn = new HttpConnection(target.port);
      const cookie = nextCookie(cookies);
      const sid = await pollingOpen(conn, target, cookie);
      if (sid === null) throw new Error("polling handshake failed");
      conns.push(conn);
      chosen.push(cookie);
      paths.push(`${target.path}?EIO=4&transport=polling&sid=${sid}`);
    }
    const body = target.io ? '42["m","hello"]' : "4hello";
    try {
      return await closedLoop({ seconds, concurrency }, async (i) => {
        const res = await conns[i].request(post(target.host, paths[i], chosen[i], body));
        return res.status === 200 && res.body === "ok";
      });
    } finally {
      for (const c of conns) c.destroy();
    }
  },

  /** Messages on established websockets: `window` in flight per socket, each echoed back. */
  async wsMessages({ target, seconds, sockets, window }) {
    const cookies = cookiesOf(target);
    const body = target.io ? '42["m","hello"]' : "4hello";
    const message = frame(body);
    let count = 0;
    let errors = 0;
    let deadline = Infinity;
    let running = 0;
    let done;
    const finished = new Promise((resolve) => (done = resolve));
    const opened = [];
    for (let i = 0; i < sockets; i++) {
      let inFlight = 0;
      let socket;
      const onMessage = (text) => {
        if (text.startsWith("40")) {
          // socket.io: connected to "/", start.
          for (let k = 0; k < window; k++) send();
          return;
        }
        if (text !== body) {
          errors++;
          return;
        }
        inFlight--;
        if (now() >= deadline) {
          if (inFlight === 0 && --running === 0) done();
          return;
        }
        count++;
        send();
      };
      const send = () => {
        inFlight++;
        socket.write(message);
      };
      socket = await wsOpen(target, nextCookie(cookies), onMessage);
      opened.push({ socket, send });
    }
    const cpuStart = process.cpuUsage();
    const started = now();
    deadline = started + seconds * 1000;
    running = opened.length;
    for (const { socket, send } of opened) {
      if (target.io) socket.write(frame("40"));
      else for (let k = 0; k < window; k++) send();
    }
    const safety = setTimeout(done, seconds * 1000 + 5_000);
    await finished;
    clearTimeout(safety);
    const elapsed = Math.min(now(), deadline) - started;
    for (const { socket } of opened) socket.destroy();
    const cpu = process.cpuUsage(cpuStart);
    return {
      count,
      errors,
      seconds: elapsed / 1000,
      clientCpu: (cpu.user + cpu.system) / 1e6 / (elapsed / 1000),
    };
  },

  /** Opens `n` websockets with `cookies` (cycled from `offset`), in waves of `concurrency`, and holds them. */
  async openWs({ target, n, cookies, offset = 0, concurrency = 64 }) {
    let failed = 0;
    let opened = 0;
    for (let i = 0; i < n; i += concurrency) {
      const wave = [];
      for (let j = i; j < Math.min(n, i + concurrency); j++) {
        const cookie = cookies[(offset + j) % cookies.length];
        wave.push(
          wsOpen(target, cookie).then(
            (socket) => {
              held.push({ key: target.key, socket });
              opened++;
            },
            () => failed++,
          ),
        );
      }
      await Promise.all(wave);
    }
    return { opened, failed };
  },

  async closeWs({ key }) {
    let closed = 0;
    const keep = [];
    for (const entry of held) {
      if (key === undefined || entry.key === key) {
        entry.socket.destroy();
        closed++;
      } else keep.push(entry);
    }
    held.length = 0;
    for (const entry of keep) held.push(entry);
    await sleep(100);
    return { closed };
  },
};

serveOrchestrator(tasks);
