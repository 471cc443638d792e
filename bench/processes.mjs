// Child processes of the bench: the build snapshot they load, IPC with timeouts, a Redis of our own,
// and the guarantee that every child dies with the orchestrator (exit, signal, error, watchdog).
import { fork, spawn, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import console from "node:console";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { clearTimeout, setTimeout } from "node:timers";

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "..");

// ---------------------------------------------------------------- the build under test
// A snapshot of dist/ taken now: every run measures the same build, even if dist/ is rebuilt meanwhile.
// (Others may rebuild the project meanwhile: wait for a complete dist/ that loads, then copy it.)
// A bench script run by another (runScript) takes the snapshot its parent measures.
const distSource = path.resolve(
  process.env.BENCH_DIST_DIR ??
    (process.env.BENCH_DIST === undefined
      ? path.join(root, "dist")
      : path.dirname(process.env.BENCH_DIST)),
);
const snapshot = mkdtempSync(path.join(os.tmpdir(), "engine.io-session-bench-"));
process.env.NODE_PATH = path.join(root, "node_modules");
for (let attempt = 1; ; attempt++) {
  try {
    rmSync(path.join(snapshot, "dist"), { recursive: true, force: true });
    cpSync(distSource, path.join(snapshot, "dist"), { recursive: true });
    // Load it in a throwaway process: a half-written copy fails here, not in the middle of a run.
    const check = spawnSync(
      process.execPath,
      ["-e", `require(${JSON.stringify(path.join(snapshot, "dist", "index.js"))})`],
      { env: process.env, encoding: "utf8" },
    );
    if (check.status !== 0) throw new Error(check.stderr.trim().split("\n")[0]);
    break;
  } catch (error) {
    if (attempt >= 60) {
      rmSync(snapshot, { recursive: true, force: true });
      throw new Error(`no loadable build in ${distSource} (run npm run build): ${error.message}`);
    }
    spawnSync("sleep", ["1"]);
  }
}
const childEnv = {
  ...process.env,
  BENCH_DIST: path.join(snapshot, "dist", "index.js"),
  // The snapshot lives outside the project: resolve its dependencies from the project's.
  NODE_PATH: path.join(root, "node_modules"),
};

// ---------------------------------------------------------------- child processes, always reaped
const children = new Set();

export function killAll() {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  children.clear();
}

process.on("exit", () => {
  killAll();
  rmSync(snapshot, { recursive: true, force: true });
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}, stopping`);
    killAll();
    process.exit(130);
  });
}
process.on("uncaughtException", (error) => {
  console.error("bench: uncaught", error);
  killAll();
  process.exit(1);
});
process.on("unhandledRejection", (error) => {
  console.error("bench: unhandled rejection", error);
  killAll();
  process.exit(1);
});

/** The whole bench stops by itself, whatever happens. */
export function watchdog(minutes) {
  setTimeout(
    () => {
      console.error(`bench: still running after ${minutes} min, giving up`);
      killAll();
      process.exit(1);
    },
    minutes * 60 * 1000,
  ).unref();
}

/**
 * CPU pinning (`--pin`): servers on the last CPU, everything else on the others, so that a server's
 * CPU per operation is not mixed with the load's migrations and cache contention. Needs `taskset`.
 */
const cpuCount = os.availableParallelism();
export const pinning = { enabled: false };
function pin(pid, role) {
  if (!pinning.enabled || cpuCount < 2) return;
  const cpus = role === "server" ? `${cpuCount - 1}` : `0-${cpuCount - 2}`;
  const result = spawnSync("taskset", ["-a", "-p", "-c", cpus, String(pid)], { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`taskset failed: ${result.stderr ?? result.error}`);
}
export function pinSelf() {
  pin(process.pid, "load");
}

/**
 * Forks an IPC child; `call(cmd, args)` sends a request and awaits its answer (with a timeout).
 * `wrapper`: a program (and its arguments) that runs node, e.g. valgrind: the child's pid is then
 * the wrapper's (valgrind runs its guest in its own process). `readyMs`: how long it may take to start.
 */
export function forkChild(file, args, execArgv, name, { wrapper, readyMs = 20_000 } = {}) {
  const child = fork(path.join(here, file), args, {
    ...(wrapper === undefined
      ? { execArgv }
      : { execPath: wrapper[0], execArgv: [...wrapper.slice(1), process.execPath, ...execArgv] }),
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    cwd: root,
    env: childEnv,
  });
  children.add(child);
  pin(child.pid, file === "server.mjs" ? "server" : "load");
  let nextId = 1;
  const pending = new Map();
  let readyResolve;
  let readyReject;
  const ready = new Promise((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  child.on("message", (message) => {
    if (message.ready) {
      readyResolve(message);
      return;
    }
    const entry = pending.get(message.id);
    if (entry === undefined) return;
    pending.delete(message.id);
    clearTimeout(entry.timer);
    if (message.ok) entry.resolve(message.value);
    else entry.reject(new Error(`${name}: ${message.error}`));
  });
  child.on("exit", (code, signal) => {
    children.delete(child);
    const error = new Error(`${name} exited (code ${code}, signal ${signal})`);
    readyReject(error);
    for (const entry of pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(error);
    }
    pending.clear();
  });
  const readyTimer = setTimeout(
    () => readyReject(new Error(`${name} not ready in ${readyMs / 1000} s`)),
    readyMs,
  );
  ready.then(
    () => clearTimeout(readyTimer),
    () => clearTimeout(readyTimer),
  );
  return {
    ready,
    pid: child.pid,
    call(cmd, callArgs, timeoutMs = 60_000) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: '${cmd}' timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        child.send({ id, cmd, args: callArgs });
      });
    },
    /** Asks the child to exit (it exits on IPC disconnect, which lets --cpu-prof write), then kills. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      if (child.connected) child.disconnect();
      const term = setTimeout(() => child.kill("SIGTERM"), 5_000);
      const kill = setTimeout(() => child.kill("SIGKILL"), 8_000);
      await exited;
      clearTimeout(term);
      clearTimeout(kill);
    },
  };
}

/** Runs a bench script to completion (with the build snapshot) and resolves with its stdout. */
export function runScript(file, args, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, file), ...args], {
      cwd: root,
      env: childEnv,
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.add(child);
    let out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => (out += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolve(out);
      else reject(new Error(`${file} exited (code ${code}, signal ${signal})`));
    });
  });
}

// ---------------------------------------------------------------- redis, when there is one
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function redisPing(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let reply = "";
    socket.setTimeout(500, () => socket.destroy());
    socket.on("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk;
      if (reply.includes("\r\n")) socket.end();
    });
    socket.on("close", () => resolve(reply.startsWith("+PONG")));
    socket.on("error", () => {});
  });
}

/**
 * Starts a throwaway redis-server on a free loopback port, without persistence. Resolves with
 * `{ port, version }`, or `{ skipped: reason }` when there is none to start.
 */
export async function startRedis() {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    return { skipped: "no redis-server binary on PATH (apt-get install -y redis-server)" };
  }
  const port = await freePort();
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
  const child = spawn("redis-server", [...args, "--loglevel", "warning"], {
    stdio: ["ignore", "ignore", "inherit"],
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  for (let i = 0; i < 50; i++) {
    if (await redisPing(port)) {
      return { port, version: probe.stdout.trim() };
    }
    await sleep(100);
  }
  child.kill("SIGKILL");
  return { skipped: `redis-server did not answer PING on 127.0.0.1:${port}` };
}
