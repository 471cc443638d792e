/* global process, console, setTimeout, clearTimeout, window -- Node, and the page in page.evaluate */
// The deployment test (npm run test:cluster): a private nginx (Debian's package, TLS with a
// certificate made here by openssl, a sticky consistent hash, websocket upgrade) in front of three
// node processes (cluster/node.cjs) that share one private redis-server, all on 127.0.0.1, ports
// 25710-25720. Clients come from many loopback addresses (127.0.0.2, ...), so the hash spreads them
// over the three nodes. Prints every check and figure; exits non-zero when one fails, or when the
// whole run takes longer than four minutes. Everything it starts is stopped at the end. Nodes A and
// B run on node-redis 5, C on node-redis 6.
//
//   CLUSTER_STEPS=latency,increments npm run test:cluster   runs only the named steps
import { execFileSync, fork, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import https from "node:https";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { Socket } from "engine.io-client";
import { createClient } from "redis";

const here = path.dirname(fileURLToPath(import.meta.url));
const REDIS_PORT = 25710;
const NODE_PORTS = { A: 25711, B: 25712, C: 25713 };
const PROXY_PORT = 25720;
const HAPROXY_PORT = 25721;
/** The proxy the clients go through: nginx, then HAProxy when it is installed. */
let ORIGIN = `https://127.0.0.1:${PROXY_PORT}`;
/** Prefixes the checks of the HAProxy pass. */
let label = "";
let proxyName = "nginx";
const DEADLINE_MS = 240_000;
const NAMES = Object.keys(NODE_PORTS);
const only = process.env.CLUSTER_STEPS?.split(",");

const started = performance.now();
const dir = mkdtempSync(path.join(tmpdir(), "eio-cluster-"));
chmodSync(dir, 0o755);
const results = [];
const figures = [];
const children = new Set();

function check(checkName, ok, detail = "") {
  const name = `${label}${checkName}`;
  results.push({ name, ok });
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${detail === "" ? "" : `: ${detail}`}`);
}
function figure(line) {
  figures.push(line);
  console.log(`     ${line}`);
}
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(predicate, timeoutMs, what, every = 10) {
  const start = performance.now();
  while (!(await predicate())) {
    if (performance.now() - start > timeoutMs)
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    await delay(every);
  }
}
function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

// ---- processes ---------------------------------------------------------------------------------

/** A child process that is killed at the end whatever happens. */
function track(child) {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

function waitForPort(port, timeoutMs) {
  return until(
    () =>
      new Promise((resolve) => {
        const socket = net.connect(port, "127.0.0.1");
        socket.once("connect", () => {
          socket.destroy();
          resolve(true);
        });
        socket.once("error", () => resolve(false));
      }),
    timeoutMs,
    `port ${port}`,
  );
}

class RedisProcess {
  #child;
  async start() {
    this.#child = track(
      spawn(
        "redis-server",
        [
          ...["--port", String(REDIS_PORT), "--bind", "127.0.0.1", "--dir", dir],
          // SIGTERM saves a snapshot: the sessions survive the restart, as on a real deployment.
          ...["--save", "3600 1", "--appendonly", "no", "--dbfilename", "cluster.rdb"],
        ],
        { stdio: "ignore" },
      ),
    );
    await waitForPort(REDIS_PORT, 5000);
  }
  async stop() {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null) return;
    child.kill("SIGCONT");
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
  pause() {
    this.#child?.kill("SIGSTOP");
  }
  resume() {
    this.#child?.kill("SIGCONT");
  }
}

class NodeProcess {
  reports = [];
  #child;
  #nextId = 1;
  constructor(name) {
    this.name = name;
  }
  async start() {
    this.reports = [];
    this.#child = track(
      fork(path.join(here, "node.cjs"), [], {
        env: {
          ...process.env,
          NODE_NAME: this.name,
          PORT: String(NODE_PORTS[this.name]),
          REDIS_URL: `redis://127.0.0.1:${REDIS_PORT}`,
          // A and B on node-redis 5, C on 6: both majors in one deployment.
          REDIS_MODULE: this.name === "C" ? "redis-v6" : "redis",
        },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      }),
    );
    this.#child.on("message", (message) => this.reports.push(message));
    await until(() => this.reports.some((r) => r.type === "ready"), 20_000, `node ${this.name}`);
  }
  get alive() {
    return this.#child !== undefined && this.#child.exitCode === null && !this.#child.killed;
  }
  async command(body, timeoutMs = 30_000) {
    const id = this.#nextId++;
    this.#child.send({ ...body, id });
    let reply;
    await until(
      () => (reply = this.reports.find((r) => r.type === "reply" && r.id === id)) !== undefined,
      timeoutMs,
      `node ${this.name}: ${body.cmd}`,
    );
    if (reply.error !== undefined) throw new Error(`node ${this.name}: ${reply.error}`);
    return reply.value;
  }
  async kill(signal) {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill(signal);
    await exited;
  }
}

/** The nginx config the test runs; docs/scaling-out.md shows the same one without the temp paths. */
function nginxConfig() {
  const upstreams = NAMES.map(
    (name) => `    server 127.0.0.1:${NODE_PORTS[name]} max_fails=1 fail_timeout=2s;`,
  ).join("\n");
  return `worker_processes 1;
worker_rlimit_nofile 16384;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 12000; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  map $http_upgrade $connection_upgrade {
    default upgrade;
    "" close;
  }

  upstream app {
    # Sticky: one client address, one node (ip_hash would key on the first three octets only).
    hash $remote_addr consistent;
${upstreams}
  }

  server {
    listen 127.0.0.1:${PROXY_PORT} ssl;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;

    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 75s;
    }
  }
}
`;
}

class NginxProcess {
  #child;
  async start() {
    execFileSync(
      "openssl",
      [
        ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"],
        ...["-keyout", `${dir}/key.pem`, "-out", `${dir}/cert.pem`, "-days", "1"],
        ...["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
      ],
      { stdio: "ignore" },
    );
    writeFileSync(`${dir}/nginx.conf`, nginxConfig());
    const binary = ["/usr/sbin/nginx", "nginx"].find((each) => {
      try {
        execFileSync(each, ["-v"], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    });
    if (binary === undefined) throw new Error("nginx is not installed (apt-get install nginx)");
    this.#child = track(
      spawn(
        binary,
        ["-p", dir, "-c", `${dir}/nginx.conf`, "-e", `${dir}/nginx-error.log`, "-g", "daemon off;"],
        {
          stdio: "ignore",
        },
      ),
    );
    await waitForPort(PROXY_PORT, 5000);
  }
  async stop() {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}

/** The HAProxy config the test runs; docs/scaling-out.md shows it without the temp paths. */
function haproxyConfig() {
  const servers = NAMES.map(
    (name) => `  server ${name} 127.0.0.1:${NODE_PORTS[name]} check inter 500 fall 1 rise 1`,
  ).join("\n");
  return `global
  maxconn 8000

defaults
  mode http
  timeout connect 2s
  timeout client 75s
  timeout server 75s
  timeout tunnel 75s
  option forwardfor

frontend www
  bind 127.0.0.1:${HAPROXY_PORT} ssl crt ${dir}/combined.pem
  http-request set-header X-Forwarded-Proto https
  default_backend app

backend app
  balance source
  hash-type consistent
${servers}
`;
}

class HaproxyProcess {
  #child;
  get available() {
    try {
      execFileSync("haproxy", ["-v"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  }
  async start() {
    // HAProxy takes the certificate and its key in one file.
    writeFileSync(
      `${dir}/combined.pem`,
      readFileSync(`${dir}/cert.pem`, "utf8") + readFileSync(`${dir}/key.pem`, "utf8"),
    );
    writeFileSync(`${dir}/haproxy.cfg`, haproxyConfig());
    this.#child = track(spawn("haproxy", ["-db", "-f", `${dir}/haproxy.cfg`], { stdio: "ignore" }));
    await waitForPort(HAPROXY_PORT, 5000);
    // Health checks mark every node up within a few hundred ms.
    await delay(1000);
  }
  async stop() {
    const child = this.#child;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }
}

// ---- clients -----------------------------------------------------------------------------------

const agents = new Map();
/** An HTTPS agent whose connections come from `address` (what nginx hashes on). */
function agentFor(address) {
  let agent = agents.get(address);
  if (agent === undefined) {
    agent = new https.Agent({ localAddress: address, rejectUnauthorized: false, keepAlive: true });
    agents.set(address, agent);
  }
  return agent;
}

function request(url, { address = "127.0.0.1", cookie, agent } = {}) {
  const module = url.startsWith("https:") ? https : http;
  return new Promise((resolve, reject) => {
    const req = module.get(
      url,
      {
        agent: agent ?? (module === https ? agentFor(address) : undefined),
        headers: cookie === undefined ? {} : { cookie },
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => {
          let json;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({
            status: res.statusCode,
            body: json,
            setCookie: res.headers["set-cookie"] ?? [],
          });
        });
      },
    );
    req.once("timeout", () => req.destroy(new Error(`GET ${url}: timeout`)));
    req.once("error", reject);
  });
}

/** Logs `user` in through the proxy; resolves with the Cookie header value. */
async function login(user, address) {
  const reply = await request(`${ORIGIN}/login?name=${encodeURIComponent(user)}`, { address });
  const [setCookie] = reply.setCookie;
  if (setCookie === undefined) throw new Error(`login of ${user}: no cookie`);
  return { cookie: setCookie.split(";")[0], setCookie, node: reply.body?.node };
}

function sessionIdOf(cookie) {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf("=") + 1));
  return value.slice(2, value.lastIndexOf("."));
}

const openSockets = new Set();

/**
 * A socket through the proxy from `address`: resolves once the node said hello. `ends` collects
 * the reasons the node sent before closing it; `reconnect` reopens it (same address and cookie)
 * whenever it closes, keeping the latest hello.
 */
function open(cookie, mode, address, { reconnect = false } = {}) {
  const conn = {
    hello: undefined,
    hellos: [],
    ends: [],
    closes: [],
    mode,
    address,
    socket: undefined,
  };
  const connect = () =>
    new Promise((resolve, reject) => {
      const socket = new Socket(ORIGIN, {
        transports: [mode],
        upgrade: false,
        extraHeaders: { cookie },
        agent: agentFor(address),
        rejectUnauthorized: false,
      });
      conn.socket = socket;
      openSockets.add(socket);
      socket.on("message", (data) => {
        const message = JSON.parse(String(data));
        if (message.type === "hello") {
          conn.hello = message;
          conn.hellos.push(message);
          resolve(conn);
        } else if (message.type === "end") {
          conn.ends.push(message.reason);
          conn.endAt ??= performance.now();
        }
      });
      socket.once("error", (error) => reject(error));
      socket.once("close", (reason) => {
        openSockets.delete(socket);
        conn.closes.push({ reason, at: performance.now() });
        reject(new Error(`closed before hello: ${reason}`));
        if (reconnect && !stopping) {
          const retry = () => connect().catch(() => !stopping && setTimeout(retry, 200));
          setTimeout(retry, 100);
        }
      });
    });
  conn.closed = () => conn.closes.length > 0;
  return connect();
}

/** Runs `task` over `items`, `limit` at a time. */
async function pool(items, limit, task) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const index = next++;
        out[index] = await task(items[index], index);
      }
    }),
  );
  return out;
}

// ---- the run -----------------------------------------------------------------------------------

let stopping = false;
const redis = new RedisProcess();
const nodes = Object.fromEntries(NAMES.map((name) => [name, new NodeProcess(name)]));
const nginx = new NginxProcess();
const haproxy = new HaproxyProcess();
/** Loopback client addresses by the node nginx sends them to. */
const addressesOf = { A: [], B: [], C: [] };

async function step(name, body) {
  if (only !== undefined && !only.includes(name)) return;
  const start = performance.now();
  try {
    await body();
  } catch (error) {
    check(`${name}`, false, error instanceof Error ? error.message : String(error));
  }
  figure(`(${name}: ${((performance.now() - start) / 1000).toFixed(1)} s)`);
}

/** A session with a websocket (or `mode`) socket on each node. */
async function sessionOnEveryNode(user, mode = "websocket") {
  const { cookie } = await login(user, addressesOf.A[0]);
  const conns = await Promise.all(NAMES.map((name) => open(cookie, mode, addressesOf[name][0])));
  return { cookie, sessionId: sessionIdOf(cookie), conns };
}

async function main() {
  await redis.start();
  await Promise.all(NAMES.map((name) => nodes[name].start()));
  await nginx.start();
  const probe = createClient({
    url: `redis://127.0.0.1:${REDIS_PORT}`,
    socket: { reconnectStrategy: () => 100 },
  });
  probe.on("error", () => undefined); // Redis goes away on purpose; node-redis reconnects
  await probe.connect();

  // Which node each client address lands on (every request of one address goes to one node).
  async function mapAddresses() {
    for (const name of NAMES) addressesOf[name] = [];
    for (let last = 2; last < 60; last++) {
      const address = `127.0.0.${last}`;
      const reply = await request(`${ORIGIN}/whoami`, { address });
      addressesOf[reply.body.node].push(address);
    }
    figure(
      `${label}addresses per node: ${NAMES.map((n) => `${n} ${addressesOf[n].length}`).join(", ")}`,
    );
    if (NAMES.some((name) => addressesOf[name].length < 2)) {
      throw new Error("the hash left a node out");
    }
  }
  await mapAddresses();

  const transportsStep = async () => {
    const { cookie, setCookie } = await login("alice", addressesOf.A[0]);
    check(
      "login through the proxy sets a Secure cookie (trust proxy + X-Forwarded-Proto)",
      /;\s*Secure/i.test(setCookie),
    );
    const direct = await request(`http://127.0.0.1:${NODE_PORTS.A}/login?name=x`);
    check(
      "the same login straight to a node over http sets no cookie",
      direct.setCookie.length === 0,
    );
    const seen = [];
    for (const name of NAMES) {
      for (const mode of ["polling", "websocket"]) {
        const conn = await open(cookie, mode, addressesOf[name][1]);
        seen.push(`${conn.hello.node}/${conn.hello.transport}`);
        check(
          `a ${mode} client lands on node ${name} with the session`,
          conn.hello.node === name && conn.hello.transport === mode && conn.hello.user === "alice",
          JSON.stringify(conn.hello),
        );
        conn.socket.close();
      }
    }
  };
  await step("transports", transportsStep);

  const latencyStep = async (rounds = 200) => {
    const samples = [];
    const reasons = new Set();
    for (let round = 0; round < rounds; round++) {
      const user = await sessionOnEveryNode(`latency-${round}`);
      const from = NAMES[round % 3];
      const others = user.conns.filter((conn) => conn.hello.node !== from);
      const start = performance.now();
      await nodes[from].command({ cmd: "destroy", sessionIds: [user.sessionId] });
      await until(
        () => others.every((conn) => conn.endAt !== undefined),
        5000,
        `round ${round}: the ends`,
        1,
      );
      const times = others.map((conn) => conn.endAt);
      samples.push(Math.max(...times) - start);
      for (const conn of user.conns) {
        await until(() => conn.closed(), 5000, "socket closed");
        for (const reason of conn.ends) reasons.add(reason);
      }
    }
    samples.sort((a, b) => a - b);
    const median = percentile(samples, 50);
    const p99 = percentile(samples, 99);
    figure(
      `cross-node destroy latency (${rounds} sessions, destroySession on one node -> "end" at the clients on the other two, through ${proxyName}): median ${median.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${samples.at(-1).toFixed(1)} ms`,
    );
    check(
      'every socket told "destroyed"',
      reasons.size === 1 && reasons.has("destroyed"),
      [...reasons].join(","),
    );
    check("cross-node destroy p99 under 250 ms", p99 < 250, `${p99.toFixed(1)} ms`);
  };
  await step("latency", latencyStep);

  await step("increments", async () => {
    const user = await sessionOnEveryNode("counter");
    const start = performance.now();
    const rejected = await Promise.all(
      NAMES.map((name) =>
        nodes[name].command({ cmd: "increment", sessionId: user.sessionId, count: 100 }, 60_000),
      ),
    );
    const elapsed = performance.now() - start;
    const stored = (
      await request(`${ORIGIN}/whoami`, { address: addressesOf.B[0], cookie: user.cookie })
    ).body.counter;
    figure(
      `3 nodes x 100 concurrent updateSession increments: ${stored} in the store, ${rejected.join("+")} rejected, ${elapsed.toFixed(0)} ms (${((elapsed * 1000) / 300).toFixed(0)} µs per update)`,
    );
    check(
      "3 x 100 concurrent increments end at exactly 300",
      stored === 300 && rejected.every((n) => n === 0),
      String(stored),
    );
    for (const conn of user.conns) conn.socket.close();
  });

  const sigkillStep = async () => {
    const { cookie } = await login("survivor", addressesOf.B[0]);
    const onB = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((index) =>
        open(
          cookie,
          index % 2 === 0 ? "polling" : "websocket",
          addressesOf.B[index % addressesOf.B.length],
          {
            reconnect: true,
          },
        ),
      ),
    );
    check(
      "six clients on node B",
      onB.every((conn) => conn.hello.node === "B"),
    );
    const killedAt = performance.now();
    await nodes.B.kill("SIGKILL");
    await until(() => onB.every((conn) => conn.hellos.length >= 2), 15_000, "clients reconnected");
    const back = Math.max(...onB.map((conn) => conn.closes[0].at)) - killedAt;
    figure(
      `node B killed (SIGKILL): 6 of 6 clients reconnected through ${proxyName} within ${(performance.now() - killedAt).toFixed(0)} ms (all closes seen after ${back.toFixed(0)} ms)`,
    );
    check(
      "after SIGKILL every client reconnects to another node with its session",
      onB.every((conn) => conn.hello.node !== "B" && conn.hello.user === "survivor"),
      onB.map((conn) => conn.hello.node).join(","),
    );
    // B rejoins the hash: its addresses go back to it. Polling sockets that moved away lose their
    // node (400 "Session ID unknown" from B) and reconnect; websocket ones stay where they are.
    // Settled on the other nodes first (a retry may have raced nginx noticing B was gone).
    await delay(500);
    const polling = onB.filter((conn) => conn.mode === "polling");
    const ws = onB.filter((conn) => conn.mode === "websocket");
    const wsHellos = ws.map((conn) => conn.hellos.length);
    await nodes.B.start();
    await until(
      () => polling.every((conn) => conn.hello.node === "B"),
      20_000,
      "polling clients back on B",
    );
    figure(
      `node B restarted: ${polling.length} polling clients were cut ("${polling[0].closes.at(-1).reason}") and reconnected to B; the ${ws.length} websocket clients stayed where they were (${ws.map((conn) => conn.hello.node).join(",")})`,
    );
    check(
      "polling clients reconnect to the node that rejoined",
      polling.every((conn) => conn.hello.user === "survivor"),
    );
    check(
      "websocket clients are not moved by the rejoin",
      ws.every((conn, index) => conn.hellos.length === wsHellos[index] && conn.hello.node !== "B"),
    );
    for (const conn of onB) {
      conn.socket.off("close");
      conn.socket.close();
    }
  };
  await step("sigkill", sigkillStep);

  /** An outage (Redis stopped, or paused): a close on A and a destroy on B meanwhile. */
  async function outage(kind) {
    const closed = await sessionOnEveryNode(`${kind}-closed`);
    const destroyed = await sessionOnEveryNode(`${kind}-destroyed`);
    if (kind === "restart") await redis.stop();
    else redis.pause();
    await delay(300);
    const start = performance.now();
    await nodes.A.command({ cmd: "close", sessionIds: [closed.sessionId] });
    const destroyReply = await nodes.B.command({
      cmd: "destroy",
      sessionIds: [destroyed.sessionId],
    }).catch((error) => error.message);
    await delay(1000);
    const during = [...closed.conns, ...destroyed.conns].filter(
      (conn) => conn.ends.length > 0,
    ).length;
    if (kind === "restart") await redis.start();
    else redis.resume();
    const all = [...closed.conns, ...destroyed.conns];
    await until(() => all.every((conn) => conn.closed()), 10_000, "every socket ended").catch(
      () => undefined,
    );
    const after = performance.now() - start;
    const reasons = (user) =>
      user.conns.map(
        (conn) =>
          `${conn.hello.node}:${conn.ends.join("/") || (conn.closed() ? "closed-without-reason" : "open")}`,
      );
    figure(
      `Redis ${kind === "restart" ? "restarted" : "paused"} for ~1.3 s: destroySession on B answered ${JSON.stringify(destroyReply)}; ${during} of 6 sockets ended during the outage; after it: close -> ${reasons(closed).join(" ")}, destroy -> ${reasons(destroyed).join(" ")} (${after.toFixed(0)} ms after the calls)`,
    );
    check(
      `Redis ${kind}: closeSession during the outage ends the session on every node`,
      closed.conns.every((conn) => conn.ends.join() === "closed"),
      reasons(closed).join(" "),
    );
    check(
      `Redis ${kind}: destroySession during the outage ends the session on every node, "destroyed"`,
      destroyed.conns.every((conn) => conn.ends.join() === "destroyed"),
      reasons(destroyed).join(" "),
    );
    await until(
      async () => (await probe.exists(`sess:${destroyed.sessionId}`).catch(() => 1)) === 0,
      5000,
      "deleted",
    ).then(
      () => check(`Redis ${kind}: the destroyed session is gone from the store afterwards`, true),
      () =>
        check(
          `Redis ${kind}: the destroyed session is gone from the store afterwards`,
          false,
          "still in Redis",
        ),
    );
    const again = await request(`${ORIGIN}/whoami`, {
      address: addressesOf.C[0],
      cookie: closed.cookie,
    });
    check(
      `Redis ${kind}: the closed session is still valid over HTTP`,
      again.body?.user?.name === `${kind}-closed`,
    );
  }

  await step("redis-restart", () => outage("restart"));
  await step("redis-pause", () => outage("pause"));

  await step("2000", async () => {
    const sessions = await pool(
      Array.from({ length: 500 }, (_, i) => i),
      20,
      async (index) => {
        const { cookie } = await login(
          `many-${index}`,
          addressesOf.A[index % addressesOf.A.length],
        );
        return { cookie, sessionId: sessionIdOf(cookie) };
      },
    );
    const every = [...addressesOf.A, ...addressesOf.B, ...addressesOf.C];
    const openedAt = performance.now();
    const conns = await pool(
      sessions.flatMap((user, index) =>
        [0, 1, 2, 3].map((k) => ({ user, address: every[(index * 4 + k) % every.length] })),
      ),
      100,
      ({ user, address }) => open(user.cookie, "websocket", address),
    );
    const perNode = NAMES.map((name) => conns.filter((conn) => conn.hello.node === name).length);
    figure(
      `2,000 sockets open in ${((performance.now() - openedAt) / 1000).toFixed(1)} s: ${NAMES.map((n, i) => `${n} ${perNode[i]}`).join(", ")}`,
    );
    const start = performance.now();
    await nodes.A.command(
      { cmd: "destroy", sessionIds: sessions.map((user) => user.sessionId) },
      60_000,
    );
    let done = true;
    await until(() => conns.every((conn) => conn.closed()), 30_000, "all closed").catch(() => {
      done = false;
    });
    const counts = {};
    for (const conn of conns) {
      const key = conn.ends.join("/") || "no reason";
      counts[key] = (counts[key] ?? 0) + 1;
    }
    figure(
      `500 sessions destroyed on A: ${JSON.stringify(counts)} in ${(performance.now() - start).toFixed(0)} ms`,
    );
    check(
      '2,000 sockets over three nodes, destroyed from one: every socket told "destroyed"',
      done && counts.destroyed === 2000,
      JSON.stringify(counts),
    );
  });

  const chromiumStep = async () => {
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--ignore-certificate-errors",
      ],
      timeout: 20_000,
    });
    try {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await page.goto(`${ORIGIN}/login?name=chrome`);
      await page.goto(`${ORIGIN}/page`);
      await page.waitForFunction(() => window.events.some((e) => e.type === "upgrade"), null, {
        timeout: 15_000,
      });
      const hello = await page.evaluate(() => window.events.find((e) => e.type === "hello"));
      check(
        `Chromium through ${proxyName}: session on the socket, upgraded to websocket (the same-origin check passes: the proxy keeps Host)`,
        hello?.user === "chrome",
        JSON.stringify(hello),
      );
      const cookies = await context.cookies();
      const sid = cookies.find((c) => c.name === "connect.sid");
      check("Chromium got a Secure session cookie", sid?.secure === true);
      const other = NAMES.find((name) => name !== hello.node);
      await nodes[other].command({
        cmd: "destroy",
        sessionIds: [sessionIdOf(`connect.sid=${sid.value}`)],
      });
      await page.waitForFunction(() => window.events.some((e) => e.type === "close"), null, {
        timeout: 10_000,
      });
      const end = await page.evaluate(() => window.events.find((e) => e.type === "end"));
      check(
        `Chromium's socket on ${hello.node} ends when node ${other} destroys the session`,
        end?.reason === "destroyed",
        JSON.stringify(end),
      );
    } finally {
      await browser.close();
    }
  };
  await step("chromium", chromiumStep);

  // The same deployment behind HAProxy (Debian's package), when it is installed: the checks that
  // concern the proxy (transports, latency over 50, a node killed and rejoining, Chromium).
  if (haproxy.available && (only === undefined || only.includes("haproxy"))) {
    await haproxy.start();
    ORIGIN = `https://127.0.0.1:${HAPROXY_PORT}`;
    label = "[haproxy] ";
    proxyName = "HAProxy";
    try {
      await mapAddresses();
      await step("haproxy", transportsStep);
      await step("haproxy", () => latencyStep(50));
      await step("haproxy", sigkillStep);
      await step("haproxy", chromiumStep);
    } finally {
      label = "";
    }
  } else if (!haproxy.available) {
    figure("HAProxy is not installed: its pass is skipped (apt-get install haproxy)");
  }

  probe.destroy();
}

async function cleanup() {
  stopping = true;
  for (const socket of openSockets) socket.close();
  await Promise.all(NAMES.map((name) => nodes[name].kill("SIGTERM")));
  await nginx.stop();
  await haproxy.stop();
  await redis.stop();
  for (const child of children) child.kill("SIGKILL");
  for (const agent of agents.values()) agent.destroy();
  rmSync(dir, { recursive: true, force: true });
}

// Whatever happens, no nginx, redis-server or node is left behind.
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});
process.on("uncaughtException", (error) => {
  check("no uncaught exception", false, error.stack);
  void cleanup().finally(() => process.exit(1));
});

const overall = setTimeout(() => {
  check("whole run within 4 minutes", false);
  void cleanup().finally(() => process.exit(1));
}, DEADLINE_MS);

main()
  .catch((error) => check("setup", false, error instanceof Error ? error.stack : String(error)))
  .finally(async () => {
    await cleanup();
    clearTimeout(overall);
    const failed = results.filter((r) => !r.ok);
    console.log(`\nfigures:\n${figures.map((line) => `  ${line}`).join("\n")}`);
    console.log(
      `\n${results.length - failed.length} passed, ${failed.length} failed, ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    process.exit(failed.length > 0 ? 1 : 0);
  });
