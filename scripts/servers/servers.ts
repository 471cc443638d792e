import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

/**
 * Private instances of the database servers behind the real-store matrix (`npm run test:stores`):
 * each has its own data directory and a loopback port, runs under `timeout` so that it stops by
 * itself even when the test run is killed, and is stopped (and restarted) by pid.
 */

/** The database servers the stores need. */
export type ServerKind = "redis" | "postgres" | "mariadb" | "memcached";

/** Every kind, in start order. */
export const SERVER_KINDS: readonly ServerKind[] = ["redis", "postgres", "mariadb", "memcached"];

/** Where one instance lives: JSON, handed from the jest global setup to the suites. */
export interface ServerSpec {
  readonly kind: ServerKind;
  /** Loopback TCP port. */
  readonly port: number;
  /** Its own data directory (also holds `server.pid` and `server.log`). */
  readonly dir: string;
}

/** The ports of the matrix (the range 25400-25499 is reserved for it). */
export const DEFAULT_PORTS: Readonly<Record<ServerKind, number>> = {
  redis: 25401,
  postgres: 25402,
  mariadb: 25403,
  memcached: 25404,
};

/** Seconds after which `timeout` ends a server that nobody stopped. */
const LIFETIME_S = Number(process.env.STORES_SERVER_LIFETIME ?? 900);
/** How long a start may take before it counts as failed. */
const START_TIMEOUT_MS = 30_000;
/** How long a stop may take before the server is killed. */
const STOP_TIMEOUT_MS = 10_000;

const PG_BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** The PostgreSQL, MariaDB and memcached daemons refuse to run as root without being told whom to run as. */
const isRoot = process.getuid?.() === 0;

function onPath(binary: string): boolean {
  const probe = spawnSync(binary, ["--version"], { stdio: "ignore", timeout: 10_000 });
  return probe.error === undefined && probe.status === 0;
}

/** Why `kind` cannot run here, or `undefined` when it can. */
export function unavailable(kind: ServerKind): string | undefined {
  const needs: Record<ServerKind, string[]> = {
    redis: ["redis-server"],
    postgres: [path.join(PG_BIN, "initdb"), path.join(PG_BIN, "postgres")],
    mariadb: ["mariadb-install-db", "mariadbd"],
    memcached: ["memcached"],
  };
  const missing = needs[kind].filter((binary) =>
    binary.startsWith("/") ? !fs.existsSync(binary) : !onPath(binary),
  );
  if (missing.length > 0) return `${kind}: ${missing.join(", ")} not found`;
  if (kind === "postgres" && isRoot && spawnSync("id", ["postgres"]).status !== 0) {
    return "postgres: running as root and there is no postgres user to run the server as";
  }
  return undefined;
}

/** PostgreSQL must not run as root: as root, run it as the `postgres` user. */
function asPostgres(command: string[]): string[] {
  return isRoot
    ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", ...command]
    : command;
}

function run(command: string[], log: string): void {
  const result = spawnSync(command[0], command.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    timeout: START_TIMEOUT_MS,
  });
  const output = `${result.stdout.toString()}${result.stderr.toString()}`;
  fs.appendFileSync(log, output);
  if (result.status !== 0) {
    throw new Error(
      `${command.join(" ")} failed (exit ${String(result.status)}):\n${output.slice(-2000)}`,
    );
  }
}

/** Makes the data directory of a new instance (once, before its first start). */
export function prepare(spec: ServerSpec): void {
  fs.mkdirSync(spec.dir, { recursive: true });
  const log = path.join(spec.dir, "server.log");
  if (spec.kind === "postgres") {
    if (isRoot) {
      // The postgres user must reach its directory (mkdtemp makes the parent 0700).
      fs.chmodSync(path.dirname(spec.dir), 0o755);
      spawnSync("chown", ["-R", "postgres:", spec.dir]);
    }
    run(
      asPostgres([
        path.join(PG_BIN, "initdb"),
        "-D",
        path.join(spec.dir, "data"),
        "-U",
        "postgres",
        "--auth=trust",
        "--no-sync",
        "--encoding=UTF8",
        "--locale=C",
      ]),
      log,
    );
  } else if (spec.kind === "mariadb") {
    run(
      [
        "mariadb-install-db",
        "--no-defaults",
        `--datadir=${path.join(spec.dir, "data")}`,
        `--user=${isRoot ? "root" : (process.env.USER ?? "root")}`,
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
      ],
      log,
    );
  }
}

/** The server's command line (without the `timeout` wrapper). */
function commandOf(spec: ServerSpec): string[] {
  const { dir, port } = spec;
  switch (spec.kind) {
    case "redis":
      // A save point, so that a graceful stop writes the data and a restart brings it back.
      return [
        "redis-server",
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "3600 1",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
      ];
    case "postgres":
      return asPostgres([
        path.join(PG_BIN, "postgres"),
        "-D",
        path.join(dir, "data"),
        "-p",
        String(port),
        "-h",
        "127.0.0.1",
        "-k",
        dir,
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
      ]);
    case "mariadb":
      return [
        "mariadbd",
        "--no-defaults",
        `--datadir=${path.join(dir, "data")}`,
        `--socket=${path.join(dir, "mariadb.sock")}`,
        `--pid-file=${path.join(dir, "mariadb.pid")}`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        ...(isRoot ? ["--user=root"] : []),
        // Private, loopback-only instance: no accounts to set up.
        "--skip-grant-tables",
        "--skip-name-resolve",
        "--skip-log-bin",
        "--innodb-buffer-pool-size=16M",
        "--innodb-flush-log-at-trx-commit=0",
      ];
    case "memcached":
      return [
        "memcached",
        "-l",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "0",
        "-m",
        "16",
        ...(isRoot ? ["-u", "root"] : []),
      ];
  }
}

/** The signal that stops `kind` at once but cleanly (PostgreSQL's SIGTERM waits for clients). */
function stopSignal(kind: ServerKind): NodeJS.Signals {
  return kind === "postgres" ? "SIGINT" : "SIGTERM";
}

function pidFile(spec: ServerSpec): string {
  return path.join(spec.dir, "server.pid");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves true when something accepts a TCP connection on `port` and answers `probe` as expected. */
function answers(port: number, probe: string | undefined, expect: RegExp): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    let data = "";
    // Settles once: the first of an answer, a timeout, an error or the server closing on us.
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => {
      done(false);
    });
    socket.once("error", () => {
      done(false);
    });
    socket.once("close", () => {
      done(false);
    });
    socket.once("connect", () => {
      if (probe === undefined) done(true);
      else socket.write(Buffer.from(probe, "latin1"));
    });
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString("latin1");
      if (expect.test(data)) done(true);
    });
  });
}

/**
 * Whether the server answers its own protocol: PING, `version`, PostgreSQL's SSLRequest (answered
 * with one byte `N` once the postmaster accepts connections), MariaDB's greeting packet.
 */
function ready(spec: ServerSpec): Promise<boolean> {
  switch (spec.kind) {
    case "redis":
      return answers(spec.port, "PING\r\n", /\+PONG/);
    case "memcached":
      return answers(spec.port, "version\r\n", /VERSION/);
    case "postgres":
      return answers(spec.port, "\x00\x00\x00\x08\x04\xd2\x16\x2f", /^[NS]/);
    case "mariadb":
      return answers(spec.port, undefined, /./);
  }
}

/** Whether the instance's recorded process is running. */
export function running(spec: ServerSpec): boolean {
  const pid = readPid(spec);
  return pid !== undefined && alive(pid);
}

function readPid(spec: ServerSpec): number | undefined {
  try {
    const pid = Number(fs.readFileSync(pidFile(spec), "utf8"));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the instance (its data directory must be prepared) and resolves once it answers; rejects
 * with the log's tail when it does not within 30 s. The process runs under `timeout`, detached,
 * and its pid is written to `server.pid`, so any process can stop it.
 */
export async function start(spec: ServerSpec): Promise<void> {
  if (running(spec)) throw new Error(`${spec.kind} is already running`);
  if (await answers(spec.port, undefined, /./)) {
    throw new Error(`${spec.kind}: port ${spec.port} is already taken by another process`);
  }
  const log = fs.openSync(path.join(spec.dir, "server.log"), "a");
  const child = spawn("timeout", ["-k", "5", String(LIFETIME_S), ...commandOf(spec)], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  fs.closeSync(log);
  if (child.pid === undefined) throw new Error(`${spec.kind}: could not spawn`);
  fs.writeFileSync(pidFile(spec), String(child.pid));
  const process_ = { exited: false };
  child.once("exit", () => (process_.exited = true));
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline && !process_.exited) {
    if (await ready(spec)) return;
    await delay(100);
  }
  await stop(spec);
  const tail = fs.readFileSync(path.join(spec.dir, "server.log"), "utf8").slice(-2000);
  throw new Error(`${spec.kind} did not start on port ${spec.port}:\n${tail}`);
}

/** Stops the instance (SIGKILL after 10 s) and resolves once its process is gone. */
export async function stop(spec: ServerSpec): Promise<void> {
  const pid = readPid(spec);
  if (pid === undefined) return;
  // `timeout` passes the signal on to the server.
  if (alive(pid)) process.kill(pid, stopSignal(spec.kind));
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (alive(pid) && Date.now() < deadline) await delay(50);
  if (alive(pid)) {
    process.kill(-pid, "SIGKILL");
    while (alive(pid)) await delay(50);
  }
  // The port is free only once the server itself (a child of `timeout`) is gone too.
  while (Date.now() < deadline + STOP_TIMEOUT_MS && (await answers(spec.port, undefined, /./))) {
    await delay(50);
  }
  fs.rmSync(pidFile(spec), { force: true });
}
