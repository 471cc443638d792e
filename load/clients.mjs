// Load generator for load/run.mjs: real engine.io-client sockets of one transport, driven over IPC.
// Runs in its own process so the server's heap and file descriptors are measured alone.
//
//   node load/clients.mjs <websocket|polling> <url>
//
// Commands (from the parent): login {count}, open {count}, close, cycle {count}, exit.
// Every answer is { type: "<command>-done", ... } or { type: "failed", message }.
import process from "node:process";
import { Socket } from "engine.io-client";

const [transport, url] = process.argv.slice(2);
if (!["websocket", "polling"].includes(transport) || !url?.startsWith("http://127.0.0.1:")) {
  throw new Error("usage: node load/clients.mjs <websocket|polling> http://127.0.0.1:<port>");
}

const { fetch } = globalThis;

/** The session cookies of the users this process logged in over HTTP (real express-session). */
const cookies = [];
/** The sockets opened by `open`, closed by `close`. */
let open = [];

/** Runs `task(i)` for i in [0, count) with at most `width` in flight. */
async function pool(count, width, task) {
  let next = 0;
  const results = new Array(count);
  async function worker() {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, count) }, worker));
  return results;
}

async function login(count) {
  await pool(count, 50, async (i) => {
    const res = await fetch(`${url}/login?name=${transport}-${cookies.length + i}`);
    const setCookie = res.headers.getSetCookie().find((each) => each.startsWith("connect.sid="));
    await res.arrayBuffer();
    if (setCookie === undefined) throw new Error(`login ${i}: no session cookie`);
    cookies.push(setCookie.split(";")[0]);
  });
  return { sessions: cookies.length };
}

/**
 * Opens a socket with the i-th session cookie; once open it sends one message and waits for it to
 * be flushed. Resolves the socket, or an Error when the handshake was refused.
 */
function connect(i, tag) {
  return new Promise((resolve) => {
    const socket = new Socket(url, {
      transports: [transport],
      extraHeaders: { cookie: cookies[i % cookies.length] },
    });
    socket.once("open", () => {
      socket.send(`${tag}:${transport}:${i}`, undefined, () => {
        resolve(socket);
      });
    });
    socket.once("error", (error) => {
      resolve(new Error(`${transport} socket ${i}: ${error.message}`));
    });
  });
}

function closeAll(sockets) {
  return Promise.all(
    sockets.map(
      (socket) =>
        new Promise((resolve) => {
          if (socket.readyState === "closed") {
            resolve();
            return;
          }
          socket.once("close", () => resolve());
          socket.close();
        }),
    ),
  );
}

const commands = {
  login: ({ count }) => login(count),
  async open({ count }) {
    const started = Date.now();
    const results = await pool(count, 250, (i) => connect(i, "open"));
    open = results.filter((each) => !(each instanceof Error));
    const failures = results.filter((each) => each instanceof Error);
    return {
      opened: open.length,
      failed: failures.length,
      firstFailure: failures[0]?.message,
      ms: Date.now() - started,
    };
  },
  async close() {
    const started = Date.now();
    await closeAll(open);
    const closed = open.length;
    open = [];
    return { closed, ms: Date.now() - started };
  },
  /** Opens `count` sockets (one message each), then closes them all: connect/disconnect cycles. */
  async cycle({ count, offset }) {
    const results = await pool(count, 250, (i) => connect(offset + i, "cycle"));
    const sockets = results.filter((each) => !(each instanceof Error));
    const failures = results.filter((each) => each instanceof Error);
    await closeAll(sockets);
    return { opened: sockets.length, failed: failures.length, firstFailure: failures[0]?.message };
  },
};

process.on("message", (message) => {
  if (message.type === "exit") {
    process.disconnect();
    process.exit(0);
  }
  const command = commands[message.type];
  if (command === undefined) {
    process.send({ type: "failed", message: `unknown command ${message.type}` });
    return;
  }
  command(message).then(
    (result) => process.send({ type: `${message.type}-done`, ...result }),
    (error) => process.send({ type: "failed", message: String(error?.stack ?? error) }),
  );
});

// The parent going away (crash, timeout) takes this process with it.
process.on("disconnect", () => {
  process.exit(0);
});

// The IPC channel keeps this process alive between commands.
process.send({ type: "ready" });
