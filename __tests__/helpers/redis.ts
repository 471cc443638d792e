import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "redis";
import { createClient as createClientV6 } from "redis-v6";
import { delay } from "./app";

/** A connected node-redis v5 client, as `createClient()` makes it. */
export type RedisClient = ReturnType<typeof createClient>;

/** The node-redis majors the suites run against (`redis-v6` is an npm alias of redis 6). */
export type RedisMajor = 5 | 6;

/** Both majors, for `describe.each`. */
export const REDIS_MAJORS: readonly RedisMajor[] = [5, 6];

/** The redis-server binary the suites start when `REDIS_URL` is unset. */
const BINARY = "redis-server";

/** Whether `redis-server` can be run here. */
function binaryOnPath(): boolean {
  const probe = spawnSync(BINARY, ["--version"], { stdio: "ignore", timeout: 5000 });
  return probe.error === undefined && probe.status === 0;
}

/**
 * Where the suites get Redis from: `REDIS_URL`, a `redis-server` they start themselves, or nowhere
 * (then they are skipped, with the reason printed).
 */
export type RedisSource =
  | { readonly kind: "url"; readonly url: string }
  | { readonly kind: "binary" }
  | { readonly kind: "none"; readonly reason: string };

/**
 * Decides where Redis comes from. With `control`, the suite must stop and restart Redis itself (fault
 * tests): only a `redis-server` it starts will do, even when `REDIS_URL` is set.
 */
export function redisSource(control = false): RedisSource {
  const url = process.env.REDIS_URL;
  if (!control && url !== undefined && url !== "") return { kind: "url", url };
  if (binaryOnPath()) return { kind: "binary" };
  return {
    kind: "none",
    reason: control
      ? `${BINARY} is not on PATH, and these tests must stop and restart Redis themselves (REDIS_URL is not enough)`
      : `REDIS_URL is unset and ${BINARY} is not on PATH (install redis-server, or set REDIS_URL)`,
  };
}

/**
 * `describe` when Redis is available, `describe.skip` with a printed reason otherwise, so that
 * `npm test` passes on a machine without Redis.
 */
export function describeRedis(
  name: string,
  body: () => void,
  options: { control?: boolean } = {},
): void {
  const source = redisSource(options.control ?? false);
  if (source.kind === "none") {
    const why = `skipping "${name}": ${source.reason}\n`;
    // Written directly: jest leaves out the console output of a file whose tests all skip.
    process.stderr.write(why);
    describe.skip(name, body);
  } else {
    describe(name, body);
  }
}

/** Resolves with a TCP port that was free on 127.0.0.1 a moment ago. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => {
        resolve(port);
      });
    });
  });
}

/** Resolves true when a Redis on `port` answers PING with PONG. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let reply = "";
    const done = (result: boolean): void => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(500, () => {
      done(false);
    });
    socket.once("error", () => {
      done(false);
    });
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

/** A `redis-server` this process started on 127.0.0.1, without persistence. */
export class RedisServer {
  readonly port: number;
  /** Where a `SAVE` writes its snapshot (and a restart loads it from): removed by `stop()`. */
  readonly dir = mkdtempSync(path.join(tmpdir(), "eio-redis-"));
  #process: ChildProcess | undefined;
  #output = "";

  private constructor(port: number) {
    this.port = port;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Whether the process is running. */
  get running(): boolean {
    return this.#process !== undefined;
  }

  /** Starts a server on a free port; retries on another port if it loses a race for one. */
  static async start(): Promise<RedisServer> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const server = new RedisServer(await freePort());
      try {
        await server.restart();
        return server;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError instanceof Error ? lastError : new Error("redis-server did not start");
  }

  /** (Re)starts the process on the same port and waits until it answers PING (5 s at most). */
  async restart(): Promise<void> {
    if (this.#process !== undefined) throw new Error("redis-server is already running");
    this.#output = "";
    const child = spawn(
      BINARY,
      [
        ...["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        // No automatic snapshots; an explicit SAVE (fault tests) lands here, not in the repo.
        ...["--dir", this.dir, "--dbfilename", "dump.rdb"],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.#process = child;
    const collect = (chunk: Buffer): void => {
      this.#output = (this.#output + chunk.toString()).slice(-2000);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const state = { exited: false };
    child.once("exit", () => {
      state.exited = true;
      if (this.#process === child) this.#process = undefined;
    });
    // Never leave a redis-server behind when a jest worker dies.
    const reap = (): void => {
      child.kill("SIGKILL");
    };
    process.once("exit", reap);
    child.once("exit", () => process.off("exit", reap));
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      if (state.exited) break;
      if (await answersPing(this.port)) return;
      await delay(20);
    }
    await this.kill();
    throw new Error(`redis-server on port ${this.port} did not answer:\n${this.#output}`);
  }

  /** Freezes the process (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void {
    this.#process?.kill("SIGSTOP");
  }

  /** Thaws a paused process (SIGCONT). */
  resume(): void {
    this.#process?.kill("SIGCONT");
  }

  /** Kills the process without warning (SIGKILL): Redis "crashes" mid-run. */
  kill(): Promise<void> {
    return this.#signal("SIGKILL");
  }

  /** Stops the process (SIGTERM), waits for it to exit, and removes its directory. */
  async stop(): Promise<void> {
    await this.#signal("SIGTERM");
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.#process;
    if (child === undefined) return;
    // A paused process does not act on SIGTERM until it runs again.
    child.kill("SIGCONT");
    const exited = new Promise<void>((resolve) =>
      child.once("exit", () => {
        resolve();
      }),
    );
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
    this.#process = undefined;
  }
}

/** The Redis a suite uses; `url` and `server` are set once its `beforeAll` ran. */
export interface RedisHandle {
  /** `redis://127.0.0.1:<port>` (or `REDIS_URL`). */
  readonly url: string;
  /** The redis-server this suite started, or `undefined` with `REDIS_URL`. */
  readonly server: RedisServer | undefined;
}

/**
 * Registers `beforeAll`/`afterAll` that start a `redis-server` (unless `REDIS_URL` is set and
 * `control` is not asked for) and stop it, and close every client made by {@link connectRedis}.
 */
export function useRedis(options: { control?: boolean } = {}): RedisHandle {
  let url = "";
  let server: RedisServer | undefined;
  beforeAll(async () => {
    const source = redisSource(options.control ?? false);
    if (source.kind === "url") {
      url = source.url;
    } else {
      server = await RedisServer.start();
      url = server.url;
    }
  }, 15_000);
  afterAll(async () => {
    await closeRedisClients();
    await server?.stop();
  }, 15_000);
  return {
    get url() {
      return url;
    },
    get server() {
      return server;
    },
  };
}

/** Options for {@link connectRedis}. */
export interface ConnectOptions {
  /** node-redis: reject commands while disconnected instead of queueing them. */
  disableOfflineQueue?: boolean;
  /** node-redis: milliseconds between reconnection attempts (default: node-redis's backoff). */
  reconnectEvery?: number;
  /**
   * The node-redis major to connect with (default 5). A redis 6 client is typed as a redis 5 one:
   * the commands the suites call have the same shape in both.
   */
  major?: RedisMajor;
  /** The connection name (`CLIENT SETNAME`); duplicates such as the bus's subscriber inherit it. */
  name?: string;
}

const openRedisClients = new Set<RedisClient>();

/** Errors that clients made by {@link connectRedis} emitted (connection losses, mostly). */
export const redisErrors: unknown[] = [];

/** A connected node-redis client; closed by `useRedis`'s `afterAll` if the test did not. */
export async function connectRedis(
  url: string,
  options: ConnectOptions = {},
): Promise<RedisClient> {
  const { reconnectEvery } = options;
  const clientOptions = {
    url,
    disableOfflineQueue: options.disableOfflineQueue ?? false,
    ...(options.name === undefined ? {} : { name: options.name }),
    socket: reconnectEvery === undefined ? {} : { reconnectStrategy: () => reconnectEvery },
  };
  const client =
    options.major === 6
      ? (createClientV6(clientOptions) as unknown as RedisClient)
      : createClient(clientOptions);
  // Without a listener, a lost connection would crash the process; node-redis reconnects.
  client.on("error", (error: unknown) => {
    redisErrors.push(error);
  });
  openRedisClients.add(client);
  await client.connect();
  return client;
}

/** Closes a client: gracefully when it is connected, at once when it is not (Redis down). */
export async function closeRedis(client: RedisClient): Promise<void> {
  openRedisClients.delete(client);
  if (!client.isOpen) return;
  if (!client.isReady) {
    client.destroy();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => {
      resolve("timeout");
    }, 2000);
  });
  const result = await Promise.race([client.close(), gaveUp]);
  clearTimeout(timer);
  if (result === "timeout") client.destroy();
}

/** Closes every client {@link connectRedis} made that is still open. */
export async function closeRedisClients(): Promise<void> {
  await Promise.all([...openRedisClients].map((client) => closeRedis(client)));
}

/** A name no other suite or run uses: for channels, so suites can share one `REDIS_URL`. */
export function uniqueName(base: string): string {
  return `${base}:${randomBytes(4).toString("hex")}`;
}

/** How many connections are subscribed to `channel` (PUBSUB NUMSUB). */
export async function subscribers(client: RedisClient, channel: string): Promise<number> {
  const counts = await client.pubSubNumSub(channel);
  return channel in counts ? counts[channel] : 0;
}

/** Waits until exactly `count` connections are subscribed to `channel`, failing after `timeoutMs`. */
export function untilSubscribers(
  probe: RedisClient,
  channel: string,
  count: number,
  timeoutMs = 3000,
): Promise<void> {
  return eventually(
    async () => (await subscribers(probe, channel)) === count,
    timeoutMs,
    `${count} subscribers on ${channel}`,
  );
}

/** Waits until `check` resolves true, polling every 10 ms, failing after `timeoutMs`. */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 3000,
  what = "condition",
): Promise<void> {
  const start = Date.now();
  for (;;) {
    if (await check()) return;
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not met within ${timeoutMs} ms`);
    await delay(10);
  }
}

/** Drops the subscriber connections named `name` (`CLIENT KILL ID`); node-redis reconnects them. */
export async function killSubscribers(probe: RedisClient, name: string): Promise<number> {
  const list = await probe.sendCommand<string>(["CLIENT", "LIST", "TYPE", "pubsub"]);
  const ids = list
    .split("\n")
    .filter((line) => line.includes(` name=${name} `))
    .map((line) => /\bid=(\d+)/.exec(line)?.[1])
    .filter((id): id is string => id !== undefined);
  for (const id of ids) await probe.sendCommand(["CLIENT", "KILL", "ID", id]);
  return ids.length;
}

/** How many times Redis ran `EVAL` so far (INFO commandstats): counts lock attempts. */
export async function evalCalls(probe: RedisClient): Promise<number> {
  const info = await probe.sendCommand<string>(["INFO", "commandstats"]);
  return Number(/cmdstat_eval:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

/** The Redis key connect-redis keeps a session under (its default prefix). */
export function sessionKey(sessionId: string): string {
  return `sess:${sessionId}`;
}
